"""jessl_lite: the small PyTorch package behind *jessl-book*.

Joint-embedding self-supervised learning, taught through information theory. Each module
holds one idea and names the chapter that teaches it.

Information (stand-alone; depend on torch only):

* :mod:`jessl_lite.info`: exact entropies and mutual information of discrete tables, Gaussian
  closed forms, quantized Gaussians (chapter 1);
* :mod:`jessl_lite.bounds`: critics and variational MI bounds, InfoNCE, NWJ, DV (chapter 2);
* :mod:`jessl_lite.entropy`: KDE entropy estimators in R^d and on the sphere, ER terms (chapter 2).

Training, in the order data flows: :mod:`~jessl_lite.data` -> :mod:`~jessl_lite.views` ->
:mod:`~jessl_lite.methods` (built from :mod:`~jessl_lite.nets` backbones and
:mod:`~jessl_lite.heads`, calling :mod:`~jessl_lite.losses`) -> :mod:`~jessl_lite.train` (the one
loop: ``fit`` + ``FitConfig``; with :mod:`~jessl_lite.checkpoints` and
:mod:`~jessl_lite.distributed`) -> :mod:`~jessl_lite.runs` (the ``Run`` record every run returns)
and :mod:`~jessl_lite.evaluate` (probes, diagnostics; :mod:`~jessl_lite.monitors` makes them
evaluation hooks of ``fit``). :mod:`~jessl_lite.validation` checks the arguments of public functions.

:mod:`jessl_lite.flows` holds bijective coupling-layer encoders (chapter 5).

Experiments, each named for what it studies, in the sub-package :mod:`jessl_lite.experiments`
(the engine above never imports it): :mod:`~jessl_lite.experiments.collapse` (SimSiam/BYOL
ablations and collapse diagnostics) and :mod:`~jessl_lite.experiments.dynamics` (linear learning
dynamics of non-contrastive methods), chapter 4; :mod:`~jessl_lite.experiments.infomax`
(Tschannen et al.'s experiments), chapter 5; :mod:`~jessl_lite.experiments.worlds` (finite worlds
of inputs, transformations and encoders) and :mod:`~jessl_lite.experiments.gaussian_ib` (Gaussian
views and Barlow Twins' information-bottleneck view), chapter 6.

For the chapters: :mod:`jessl_lite.profiles` (the quick and full run sizes, device choice),
:mod:`jessl_lite.plots` (the book's palette; interactive figures that work without a kernel),
:mod:`jessl_lite.exercises` (answer checkers; the student-version tool).
"""

__version__ = "0.1.0"
