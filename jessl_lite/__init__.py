"""jessl_lite: the small PyTorch package behind *jessl-book*.

Joint-embedding self-supervised learning, taught through information theory. Each module
holds one idea and names the chapter that teaches it:

* :mod:`jessl_lite.info`: exact entropies and mutual information (chapter 1);
* :mod:`jessl_lite.profiles`: the quick (CPU) and full (GPU) run sizes, and device choice;
* :mod:`jessl_lite.plots`: the book's palette and interactive figures that work without a kernel;
* :mod:`jessl_lite.exercises`: answer checkers for the exercises, and the student-version tool.
"""

__version__ = "0.1.0"
