"""Experiments of the book, each module named for what it studies.

The engine (``data``, ``views``, ``nets``, ``heads``, ``losses``, ``methods``, ``train``,
``evaluate``) never imports from here; these modules build on it:

* :mod:`~jessl_lite.experiments.collapse`: SimSiam/BYOL ablations and collapse diagnostics (chapter 4);
* :mod:`~jessl_lite.experiments.dynamics`: linear learning dynamics of non-contrastive methods (chapter 4);
* :mod:`~jessl_lite.experiments.infomax`: Tschannen et al.'s "MI maximization is insufficient" (chapter 5);
* :mod:`~jessl_lite.experiments.worlds`: finite worlds of inputs, transformations and encoders (chapter 6);
* :mod:`~jessl_lite.experiments.gaussian_ib`: Gaussian views and Barlow Twins' IB view (chapter 6);
* :mod:`~jessl_lite.experiments.er`: the ER repository's vMF constant and its effect (chapter 7).
"""
