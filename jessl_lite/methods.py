"""Joint-embedding methods: one ``nn.Module`` each, with ``loss(view1, view2) -> (loss, logs)``.

The six methods of chapter 3, in its four families:

* contrastive: :class:`SimCLR` (negatives: the other images of the batch);
* clustering: :class:`SwAV` (prototypes and equipartitioned codes);
* distillation: :class:`BYOL` (predictor and EMA target), :class:`SimSiam` (predictor and
  stop-gradient only);
* redundancy reduction: :class:`BarlowTwins`, :class:`VICReg` (statistics of the batch).

The interface every method keeps, so that :func:`jessl_lite.train.fit` trains any of them:

* ``loss(view1, view2)`` (also ``forward``): a 0-dim loss and a dict of detached 0-dim tensors
  to log (never ``.item()``: the fit loop decides when to synchronise with the device);
* ``embed(x)``: the representation that is evaluated (the backbone's features);
* ``target_pairs()``: ``(online, target)`` module pairs that the fit loop moves by an
  exponential moving average after every optimizer step (BYOL); empty when there is no target;
* ``param_groups()``: optimizer parameter groups; a group with ``"fixed_lr": True`` keeps the
  base learning rate instead of following the schedule (SimSiam's predictor).

Under data-parallel training (``torchrun``) every loss that compares a sample with the rest of
the batch (SimCLR's negatives, SwAV's codes, Barlow Twins' and VICReg's batch statistics) sees
the *global* batch through :func:`jessl_lite.distributed.gather_with_grad`, whose backward pass
returns each rank its rows' gradient; with DDP's averaging the update equals one process's on
the whole batch. (BatchNorm layers in the heads still use per-process statistics unless
``fit(..., sync_batchnorm=True)``.)

Each method builds its heads from :mod:`jessl_lite.heads` (one class per paper) and computes its
loss with one function of :mod:`jessl_lite.losses`; ``std_of_normalized`` is
:func:`jessl_lite.evaluate.std_of_normalized`. Chapter 3 introduces the methods side by side,
chapter 4 studies SimSiam and BYOL.

Example::

    >>> from jessl_lite.nets import MLP
    >>> method = SimSiam(MLP(784, [256], 128), dim=64, pred_dim=16)
    >>> loss, logs = method(torch.randn(32, 1, 28, 28), torch.randn(32, 1, 28, 28))
    >>> sorted(logs)
    ['loss', 'std_of_normalized']
"""

from __future__ import annotations

import copy
import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

from .distributed import gather_with_grad
from .entropy import (
    categorical_entropy_of_mean,
    categorical_reconstruction_loss,
    er_loss,
    vmf_kde_entropy,
    vmf_reconstruction_loss,
)
from .evaluate import std_of_normalized
from .heads import (
    BarlowTwinsProjectionHead,
    BYOLPredictionHead,
    BYOLProjectionHead,
    SimCLRProjectionHead,
    SimSiamPredictionHead,
    SimSiamProjectionHead,
    SwAVProjectionHead,
    SwAVPrototypes,
    VICRegProjectionHead,
)
from .losses import barlow_twins_loss, byol_loss, nt_xent_loss, simsiam_loss, swav_loss, vicreg_loss
from .validation import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_matching_tensors,
    check_number,
    check_sizes,
    check_tensor,
)

__all__ = [
    "JointEmbeddingMethod",
    "SimCLR",
    "SwAV",
    "BYOL",
    "SimSiam",
    "BarlowTwins",
    "VICReg",
    "METHODS",
    "METHOD_NAMES",
    "make_method",
    "ERSimCLR",
    "ERBYOL",
    "ERSwAV",
    "ER_METHODS",
    "make_er_method",
    "ema_update",
]


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, decay: float) -> None:
    r"""``target <- decay * target + (1 - decay) * online`` for parameters; buffers (BatchNorm's
    running statistics) are copied, as in BYOL's code. Both modules must have the same structure.

    Lives here, beside the methods that own target networks; :func:`jessl_lite.train.fit` calls
    it after every step with BYOL's schedule (chapter 4)."""
    check_instance(target, "target", nn.Module, "an nn.Module")
    check_instance(online, "online", nn.Module, "an nn.Module")
    check_number(decay, "decay", low=0.0, high=1.0)
    t_params, o_params = list(target.parameters()), list(online.parameters())
    if len(t_params) != len(o_params):
        raise ValueError("target and online must have the same parameters")
    for t, o in zip(t_params, o_params, strict=True):
        t.lerp_(o.detach(), 1 - decay)
    for t, o in zip(target.buffers(), online.buffers(), strict=True):
        t.copy_(o)


class JointEmbeddingMethod(nn.Module):
    """The base class: a ``backbone`` and a two-view loss (see the module docstring)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        check_instance(backbone, "backbone", nn.Module, "an nn.Module")
        self.backbone = backbone

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # DistributedDataParallel synchronises gradients only through forward, so forward is the loss.
        return self.loss(view1, view2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, backbone.out_dim)`` of un-augmented inputs, for probes and kNN."""
        check_tensor(x, "x", min_ndim=2, dims="(N, ...)", floating=True)
        return self.backbone(x)

    def target_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return []

    def param_groups(self) -> list[dict]:
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]


class SimCLR(JointEmbeddingMethod):
    r"""SimCLR (Chen et al. 2020): NT-Xent over the two views of every image in the batch.

    .. math:: z_i = g(f(x_i)), \qquad \mathcal L = \mathrm{NT\text{-}Xent}_\tau(z^{(1)}, z^{(2)})

    (:func:`~jessl_lite.losses.nt_xent_loss`). Collapse is prevented by the negatives: every
    other view in the batch is pushed away. Under data-parallel training the negatives come
    from every process, with gradients.

    Args:
        backbone: images -> features ``(N, backbone.out_dim)``.
        projector: defaults to :class:`~jessl_lite.heads.SimCLRProjectionHead`
            ``out_dim -> hidden_dim (BN, ReLU) -> dim`` (``proj_layers`` layers).
        dim: embedding width (128 in the paper). hidden_dim: projector width (2048).
        proj_layers: projector depth (2). temperature: :math:`\tau` (0.5, the paper's CIFAR-10 value).

    Logs: ``loss``, ``mi_lower_bound`` (:math:`\log(2N-1) - \mathcal L`, the InfoNCE bound in nats
    with :math:`K = 2N-1` candidates per anchor, ``N`` the global batch) and ``std_of_normalized``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module | None = None,
        *,
        dim: int = 128,
        hidden_dim: int = 2048,
        proj_layers: int = 2,
        temperature: float = 0.5,
    ) -> None:
        super().__init__(backbone)
        check_sizes(dim=dim, hidden_dim=hidden_dim, proj_layers=proj_layers)
        self.temperature = check_number(temperature, "temperature", low=0.0, low_open=True)
        if projector is None:
            projector = SimCLRProjectionHead(_feature_dim(backbone), hidden_dim, dim, proj_layers)
        self.projector = _check_head(projector, "projector")

    def projections(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two views' projections ``(z1, z2)``, gathered from every process (what the loss compares)."""
        _check_views(view1, view2)
        z1, z2 = self.projector(self.backbone(view1)), self.projector(self.backbone(view2))
        return gather_with_grad(z1), gather_with_grad(z2)

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z1, z2 = self.projections(view1, view2)
        loss = nt_xent_loss(z1, z2, self.temperature)
        bound = math.log(2 * z1.shape[0] - 1) - loss.detach()
        return loss, {"loss": loss.detach(), "mi_lower_bound": bound, "std_of_normalized": _logged_std(z1)}


class SwAV(JointEmbeddingMethod):
    r"""SwAV (Caron et al. 2020): swapped prediction of Sinkhorn-Knopp codes over learned prototypes.

    .. math:: z = \frac{g(f(x))}{\lVert g(f(x)) \rVert}, \quad s = z\, C^\top, \quad
              \mathcal L = \mathrm{SwAV}(s^{(1)}, s^{(2)})

    with :math:`C` the ``(K, dim)`` prototypes, re-normalised to unit rows at every step
    (:func:`~jessl_lite.losses.swav_loss`). Collapse is prevented by equipartition: the codes
    must spread the batch evenly over the prototypes. Two views only (no multi-crop).

    Args:
        backbone: images -> features. projector: defaults to
            :class:`~jessl_lite.heads.SwAVProjectionHead` ``out_dim -> hidden_dim -> dim``.
        dim: embedding width (128; a given projector must output ``dim``). hidden_dim: projector
            width (2048). proj_layers: (2).
        num_prototypes: ``K`` (3000 on ImageNet; a few hundred suit CIFAR-10), the rows of
            :class:`~jessl_lite.heads.SwAVPrototypes`.
        temperature, epsilon, sinkhorn_iterations: 0.1, 0.05, 3 as in the paper.
        queue_length: ``L > 0`` keeps the last ``L`` embeddings of each view (global batch) and
            adds them to the Sinkhorn problem once the queue is full, as SwAV does for batches
            smaller than ``K``; 0 (default) turns the queue off. The queue is a buffer, so it
            is saved in checkpoints; checking whether it is full reads one number from the device.

    Logs: ``loss``, ``std_of_normalized`` and ``queue_in_use`` (0 or 1).
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module | None = None,
        *,
        dim: int = 128,
        hidden_dim: int = 2048,
        proj_layers: int = 2,
        num_prototypes: int = 3000,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        sinkhorn_iterations: int = 3,
        queue_length: int = 0,
    ) -> None:
        super().__init__(backbone)
        check_sizes(dim=dim, hidden_dim=hidden_dim, proj_layers=proj_layers, num_prototypes=num_prototypes)
        check_int(queue_length, "queue_length", minimum=0)
        self.temperature = check_number(temperature, "temperature", low=0.0, low_open=True)
        self.epsilon = check_number(epsilon, "epsilon", low=0.0, low_open=True)
        self.sinkhorn_iterations = check_int(sinkhorn_iterations, "sinkhorn_iterations", minimum=1)
        if projector is None:
            projector = SwAVProjectionHead(_feature_dim(backbone), hidden_dim, dim, proj_layers)
        self.projector = _check_head(projector, "projector")
        self.prototypes = SwAVPrototypes(dim, num_prototypes)
        self.queue_length = queue_length
        self.register_buffer("queue", torch.zeros(2, queue_length, dim))
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))

    def scores(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(z1, z2, s1, s2)``: the unit-norm projections (gathered) and their prototype scores (cosines)."""
        _check_views(view1, view2)
        # Prototypes stay on the unit sphere: the scores are cosines, like the embeddings'.
        self.prototypes.normalize_()
        z1 = gather_with_grad(F.normalize(self.projector(self.backbone(view1)), dim=1))
        z2 = gather_with_grad(F.normalize(self.projector(self.backbone(view2)), dim=1))
        return z1, z2, self.prototypes(z1), self.prototypes(z2)

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z1, z2, s1, s2 = self.scores(view1, view2)
        queue_scores = [None, None]
        use_queue = self.queue_length > 0 and int(self.queue_filled) >= self.queue_length
        if use_queue:
            with torch.no_grad():
                queue_scores = [self.prototypes(self.queue[0]), self.prototypes(self.queue[1])]
        loss = swav_loss(s1, s2, temperature=self.temperature, epsilon=self.epsilon,
                         iterations=self.sinkhorn_iterations, queue_scores1=queue_scores[0],
                         queue_scores2=queue_scores[1])
        if self.queue_length > 0:
            self._enqueue(z1.detach(), z2.detach())
        logs = {"loss": loss.detach(), "std_of_normalized": _logged_std(z1),
                "queue_in_use": torch.tensor(float(use_queue))}
        return loss, logs

    @torch.no_grad()
    def _enqueue(self, z1: torch.Tensor, z2: torch.Tensor) -> None:
        # Newest first; the oldest rows fall off the end.
        new = torch.stack([z1, z2]).to(self.queue.dtype)
        self.queue.copy_(torch.cat([new, self.queue], dim=1)[:, : self.queue_length])
        self.queue_filled.add_(z1.shape[0])


class BYOL(JointEmbeddingMethod):
    r"""BYOL (Grill et al. 2020): an online network predicts an EMA target network's projection.

    .. math:: \mathcal L = \mathcal L_{\mathrm{nmse}}(q(z_1), \mathrm{sg}(z'_2))
              + \mathcal L_{\mathrm{nmse}}(q(z_2), \mathrm{sg}(z'_1)), \quad
              z_k = g(f(x_k)),\ z'_k = g'(f'(x_k))

    (:func:`~jessl_lite.losses.byol_loss`, each term :math:`2 - 2\cos`; the sum lies in
    [0, 8]). The target :math:`(f', g')` starts as a copy of the online :math:`(f, g)` and follows
    it by the exponential moving average of :func:`jessl_lite.train.fit` with BYOL's schedule
    :func:`~jessl_lite.train.byol_tau`. Collapse is prevented (in practice, not by the loss)
    by the asymmetry: predictor, stop-gradient and a slowly moving target.

    Args:
        backbone: images -> features. projector: defaults to
            :class:`~jessl_lite.heads.BYOLProjectionHead` ``out_dim -> hidden_dim -> dim``.
        predictor: defaults to :class:`~jessl_lite.heads.BYOLPredictionHead` ``dim -> pred_dim -> dim``.
        dim: embedding width (256). hidden_dim: projector width (4096). proj_layers: (2).
        pred_dim: predictor hidden width (4096).
        ema_decay: ``None`` (default): ``fit`` moves the target with BYOL's schedule. A number
            :math:`\lambda \in [0, 1]`: a *constant* decay, :math:`\zeta \leftarrow \lambda\zeta +
            (1-\lambda)\theta`, applied by the method before every training-mode loss (so step
            ``k`` sees the target after ``k`` updates, as with ``fit``), and ``target_pairs()`` is
            empty. 0: the target is the online network (SimSiam-like); 1: a frozen random target
            (chapter 4's ablation, Grill et al. 2020, Table 5).

    Logs: ``loss``, ``std_of_normalized`` (of the online projections).
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module | None = None,
        predictor: nn.Module | None = None,
        *,
        dim: int = 256,
        hidden_dim: int = 4096,
        proj_layers: int = 2,
        pred_dim: int = 4096,
        ema_decay: float | None = None,
    ) -> None:
        super().__init__(backbone)
        check_sizes(dim=dim, hidden_dim=hidden_dim, proj_layers=proj_layers, pred_dim=pred_dim)
        self.ema_decay = None if ema_decay is None else check_number(ema_decay, "ema_decay", low=0.0, high=1.0)
        if projector is None:
            projector = BYOLProjectionHead(_feature_dim(backbone), hidden_dim, dim, proj_layers)
        self.projector = _check_head(projector, "projector")
        if predictor is None:
            predictor = BYOLPredictionHead(dim, pred_dim, dim)
        self.predictor = _check_head(predictor, "predictor")
        self.target_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def predictions(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(z1, z2, p1, p2, t1, t2)``: online projections, their predictions and the target's
        projections (no gradient), after the constant-decay target update if ``ema_decay`` is set."""
        _check_views(view1, view2)
        if self.ema_decay is not None and self.training and torch.is_grad_enabled():
            for online, target in ((self.backbone, self.target_backbone), (self.projector, self.target_projector)):
                ema_update(target, online, self.ema_decay)
        z1, z2 = self.projector(self.backbone(view1)), self.projector(self.backbone(view2))
        with torch.no_grad():
            t1 = self.target_projector(self.target_backbone(view1))
            t2 = self.target_projector(self.target_backbone(view2))
        return z1, z2, self.predictor(z1), self.predictor(z2), t1, t2

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z1, z2, p1, p2, t1, t2 = self.predictions(view1, view2)
        loss = byol_loss(p1, p2, t1, t2)
        return loss, {"loss": loss.detach(), "std_of_normalized": _logged_std(z1)}

    def target_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        if self.ema_decay is not None:
            return []  # the constant-decay target is moved in loss()
        return [(self.backbone, self.target_backbone), (self.projector, self.target_projector)]


class SimSiam(JointEmbeddingMethod):
    r"""SimSiam (Chen & He 2021): a symmetric negative cosine with a predictor and stop-gradient.

    .. math:: \mathcal{L} = \tfrac12 \mathcal{D}(p_1, \mathrm{sg}(z_2)) + \tfrac12 \mathcal{D}(p_2, \mathrm{sg}(z_1)),
       \quad z_i = g(f(x_i)),\ p_i = h(z_i)

    (:func:`~jessl_lite.losses.simsiam_loss`), with :math:`\mathcal{D}` the negative cosine,
    ``f`` the backbone, ``g`` the projector and ``h`` the predictor. The loss lies in [-1, 1].
    Without stop-gradient the embeddings collapse to a constant (chapter 4's experiment).

    Args:
        backbone: images ``(N, C, H, W)`` -> features ``(N, backbone.out_dim)``.
        projector: defaults to :class:`~jessl_lite.heads.SimSiamProjectionHead` with ``proj_layers``
            layers of ``dim``.
        predictor: defaults to :class:`~jessl_lite.heads.SimSiamPredictionHead` ``dim -> pred_dim -> dim``.
        dim: embedding width (2048 in the paper). pred_dim: predictor bottleneck (512).
        proj_layers: projector depth (3 on ImageNet, 2 on CIFAR in the paper).
        stop_gradient: detach the targets (turn off only to watch the collapse); a bool.
        fixed_predictor_lr: keep the predictor's learning rate constant, as the paper does; a bool.
        predictor_mode: ``"learned"`` (default); ``"identity"``: no predictor, :math:`h = \mathrm{id}`;
            ``"fixed_random"``: :math:`h` keeps its random initial weights (no gradient reaches
            them; its BatchNorm still uses batch statistics). The ablations of Chen & He's
            Table 1, trained in chapter 4.

    Logs: ``loss`` and ``std_of_normalized`` (mean per-dimension std of the L2-normalised
    projections: about ``1/sqrt(dim)`` when healthy, 0 when collapsed).
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module | None = None,
        predictor: nn.Module | None = None,
        *,
        dim: int = 2048,
        pred_dim: int = 512,
        proj_layers: int = 3,
        stop_gradient: bool = True,
        fixed_predictor_lr: bool = True,
        predictor_mode: str = "learned",
    ) -> None:
        super().__init__(backbone)
        check_choice(predictor_mode, "predictor_mode", ("learned", "identity", "fixed_random"))
        check_bool(stop_gradient, "stop_gradient")
        check_bool(fixed_predictor_lr, "fixed_predictor_lr")
        check_sizes(dim=dim, pred_dim=pred_dim, proj_layers=proj_layers)
        if projector is None:
            projector = SimSiamProjectionHead(_feature_dim(backbone), dim, dim, proj_layers)
        self.projector = _check_head(projector, "projector")
        if predictor is None:
            predictor = SimSiamPredictionHead(dim, pred_dim, dim)
        self.predictor = _check_head(predictor, "predictor")
        if predictor_mode == "identity":
            self.predictor = nn.Identity()
        elif predictor_mode == "fixed_random":
            self.predictor.requires_grad_(False)
        self.predictor_mode = predictor_mode
        self.stop_gradient = stop_gradient
        self.fixed_predictor_lr = fixed_predictor_lr

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _check_views(view1, view2)
        z1 = self.projector(self.backbone(view1))
        z2 = self.projector(self.backbone(view2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        loss = simsiam_loss(p1, p2, z1, z2, stop_gradient=self.stop_gradient)
        return loss, {"loss": loss.detach(), "std_of_normalized": _logged_std(z1)}

    def param_groups(self) -> list[dict]:
        head = list(self.predictor.parameters())
        head_ids = {id(p) for p in head}
        rest = [p for p in self.parameters() if id(p) not in head_ids and p.requires_grad]
        return [{"params": rest}, {"params": head, "fixed_lr": self.fixed_predictor_lr}]


class BarlowTwins(JointEmbeddingMethod):
    r"""Barlow Twins (Zbontar et al. 2021): make the views' cross-correlation matrix the identity.

    .. math:: \mathcal L = \sum_i (1 - \mathcal C_{ii})^2 + \lambda \sum_{i \ne j} \mathcal C_{ij}^2,
              \quad \mathcal C = \text{cross-correlation of } z^{(1)}, z^{(2)} \text{ over the batch}

    (:func:`~jessl_lite.losses.barlow_twins_loss`, :func:`~jessl_lite.losses.cross_correlation`).
    Collapse is prevented by the statistics of the batch: a constant feature has
    :math:`\mathcal C_{ii} = 0`, and the off-diagonal term decorrelates the features.

    Args:
        backbone: images -> features. projector: defaults to
            :class:`~jessl_lite.heads.BarlowTwinsProjectionHead` ``out_dim -> hidden_dim -> hidden_dim -> dim``.
        dim, hidden_dim: 8192 in the paper. proj_layers: (3). lambd: :math:`\lambda` (5e-3).

    Logs: ``loss``, ``invariance``, ``redundancy``, ``std_of_normalized``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module | None = None,
        *,
        dim: int = 8192,
        hidden_dim: int = 8192,
        proj_layers: int = 3,
        lambd: float = 5e-3,
    ) -> None:
        super().__init__(backbone)
        check_sizes(dim=dim, hidden_dim=hidden_dim, proj_layers=proj_layers)
        self.lambd = check_number(lambd, "lambd", low=0.0)
        if projector is None:
            projector = BarlowTwinsProjectionHead(_feature_dim(backbone), hidden_dim, dim, proj_layers)
        self.projector = _check_head(projector, "projector")

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _check_views(view1, view2)
        z1 = gather_with_grad(self.projector(self.backbone(view1)))
        z2 = gather_with_grad(self.projector(self.backbone(view2)))
        loss, terms = barlow_twins_loss(z1, z2, self.lambd, return_terms=True)
        logs = {"loss": loss.detach(), **{k: v.detach() for k, v in terms.items()}}
        logs["std_of_normalized"] = _logged_std(z1)
        return loss, logs


class VICReg(JointEmbeddingMethod):
    r"""VICReg (Bardes et al. 2022): invariance, a variance hinge and a covariance penalty.

    .. math:: \mathcal L = \lambda\, s(z^{(1)}, z^{(2)}) + \mu\, v(z^{(1)}, z^{(2)}) + \nu\, c(z^{(1)}, z^{(2)})

    (:func:`~jessl_lite.losses.vicreg_loss`; :math:`\lambda = \mu = 25`, :math:`\nu = 1`).
    Collapse is prevented by the variance term: every feature's standard deviation over the
    batch is pushed up to 1, and the covariance term decorrelates the features.

    Args:
        backbone: images -> features. projector: defaults to
            :class:`~jessl_lite.heads.VICRegProjectionHead` ``out_dim -> hidden_dim -> hidden_dim -> dim``.
        dim, hidden_dim: 8192 in the paper. proj_layers: (3).
        sim_coeff, std_coeff, cov_coeff: :math:`\lambda, \mu, \nu`.

    Logs: ``loss``, ``invariance``, ``variance``, ``covariance``, ``std_of_normalized``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module | None = None,
        *,
        dim: int = 8192,
        hidden_dim: int = 8192,
        proj_layers: int = 3,
        sim_coeff: float = 25.0,
        std_coeff: float = 25.0,
        cov_coeff: float = 1.0,
    ) -> None:
        super().__init__(backbone)
        check_sizes(dim=dim, hidden_dim=hidden_dim, proj_layers=proj_layers)
        self.sim_coeff = check_number(sim_coeff, "sim_coeff", low=0.0)
        self.std_coeff = check_number(std_coeff, "std_coeff", low=0.0)
        self.cov_coeff = check_number(cov_coeff, "cov_coeff", low=0.0)
        if projector is None:
            projector = VICRegProjectionHead(_feature_dim(backbone), hidden_dim, dim, proj_layers)
        self.projector = _check_head(projector, "projector")

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _check_views(view1, view2)
        z1 = gather_with_grad(self.projector(self.backbone(view1)))
        z2 = gather_with_grad(self.projector(self.backbone(view2)))
        loss, terms = vicreg_loss(z1, z2, self.sim_coeff, self.std_coeff, self.cov_coeff, return_terms=True)
        logs = {"loss": loss.detach(), **{k: v.detach() for k, v in terms.items()}}
        logs["std_of_normalized"] = _logged_std(z1)
        return loss, logs


METHODS: dict[str, type[JointEmbeddingMethod]] = {
    "simclr": SimCLR,
    "swav": SwAV,
    "byol": BYOL,
    "simsiam": SimSiam,
    "barlow_twins": BarlowTwins,
    "vicreg": VICReg,
}

# --- entropy-and-reconstruction (ER) variants (chapter 7) -----------------------------------------


class _ERMixin:
    """What the ER variants share: the concentration, the entropy weight and their logs."""

    def _init_er(self, kappa: float, entropy_weight: float) -> None:
        self.kappa = check_number(kappa, "kappa", low=0.0, low_open=True)
        self.entropy_weight = check_number(entropy_weight, "entropy_weight", low=0.0)

    def _er(self, entropy: torch.Tensor, reconstruction: torch.Tensor, z: torch.Tensor):
        loss = -self.entropy_weight * entropy + reconstruction
        return loss, {"loss": loss.detach(), "er_entropy": entropy.detach(),
                      "er_reconstruction": reconstruction.detach(), "std_of_normalized": _logged_std(z)}


class ERSimCLR(_ERMixin, SimCLR):
    r"""SimCLR's network trained with the ER loss (Rodriguez-Galvez et al. 2023) instead of NT-Xent.

    .. math:: \mathcal L = -\lambda\,\tfrac12\big[\hat H(u_1) + \hat H(u_2)\big] + \mathcal L_{\mathrm{rec}}(u_1, u_2),
              \qquad u_k = \frac{z_k}{\lVert z_k\rVert}

    (:func:`~jessl_lite.entropy.er_loss`: vMF-KDE entropy of each view's batch, vMF
    reconstruction, concentration ``kappa``). Everything else is :class:`SimCLR`'s (its
    projections, heads and options; ``temperature`` is unused). With ``kappa = 1 / temperature``
    and ``entropy_weight = 1`` the loss differs from NT-Xent only in which samples enter each
    anchor's denominator (chapter 7 writes the identity).

    Args: as :class:`SimCLR`, plus ``kappa`` (10, the ER repository's default) and
    ``entropy_weight`` :math:`\lambda` (1). Logs: ``loss``, ``er_entropy``, ``er_reconstruction``,
    ``std_of_normalized``.
    """

    def __init__(self, backbone: nn.Module, projector: nn.Module | None = None, *, kappa: float = 10.0,
                 entropy_weight: float = 1.0, **options) -> None:
        super().__init__(backbone, projector, **options)
        self._init_er(kappa, entropy_weight)

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z1, z2 = self.projections(view1, view2)
        _, entropy, reconstruction = er_loss(z1, z2, self.kappa, return_terms=True)
        return self._er(entropy, reconstruction, z1)


class ERBYOL(_ERMixin, BYOL):
    r"""BYOL's networks (predictor, EMA target) trained with the ER loss instead of the normalised MSE.

    .. math:: \mathcal L = -\lambda\,\tfrac12\big[\hat H(\bar z_1) + \hat H(\bar z_2)\big]
              + \tfrac12\big[\mathcal L_{\mathrm{rec}}(\bar p_1, \mathrm{sg}(\bar t_2))
              + \mathcal L_{\mathrm{rec}}(\bar p_2, \mathrm{sg}(\bar t_1))\big]

    (bars: unit norm): the entropy of the online projections (vMF KDE) and the vMF
    reconstruction of the target's projection from the prediction. BYOL's own loss, the sum over
    both directions of :math:`2 - 2\cos(p, t)`, is :math:`4/\kappa` times this reconstruction term
    plus a constant, so at ``kappa = 4`` BYOL+ER is BYOL with an entropy bonus. The target moves as
    in :class:`BYOL`.

    Args: as :class:`BYOL`, plus ``kappa`` (10) and ``entropy_weight`` (1).
    """

    def __init__(self, backbone: nn.Module, projector: nn.Module | None = None, predictor: nn.Module | None = None,
                 *, kappa: float = 10.0, entropy_weight: float = 1.0, **options) -> None:
        super().__init__(backbone, projector, predictor, **options)
        self._init_er(kappa, entropy_weight)

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z1, z2, p1, p2, t1, t2 = self.predictions(view1, view2)
        entropy = vmf_kde_entropy(F.normalize(torch.stack([z1, z2]), dim=-1), self.kappa).mean()
        q1, q2, s1, s2 = (F.normalize(x, dim=1) for x in (p1, p2, t1, t2))
        reconstruction = 0.5 * (vmf_reconstruction_loss(q1, s2, self.kappa)
                                + vmf_reconstruction_loss(q2, s1, self.kappa))
        return self._er(entropy, reconstruction, z1)


class ERSwAV(_ERMixin, SwAV):
    r"""SwAV's networks (projector, prototypes) trained with the discrete ER loss instead of swapped prediction.

    The code of a view is :math:`p = \mathrm{softmax}(s / \tau)` over the prototypes (``s``:
    cosine scores, ``temperature`` :math:`\tau`); the loss is

    .. math:: \mathcal L = -\lambda\,\tfrac12\big[H(\bar p_1) + H(\bar p_2)\big]
              + \tfrac{1}{2N}\sum_n \big[\mathrm{CE}(p_{1,n}, p_{2,n}) + \mathrm{CE}(p_{2,n}, p_{1,n})\big]

    (:func:`~jessl_lite.entropy.categorical_entropy_of_mean`,
    :func:`~jessl_lite.entropy.categorical_reconstruction_loss`; the ER repository's discrete
    branch). The entropy of the batch's mean code replaces Sinkhorn-Knopp's equipartition:
    SwAV enforces :math:`\bar p` uniform through its targets, ER rewards it directly. No queue.

    Args: as :class:`SwAV` (``queue_length`` must stay 0), plus ``entropy_weight`` (1);
    ``kappa`` is unused by the discrete terms and is stored for the record only.
    """

    def __init__(self, backbone: nn.Module, projector: nn.Module | None = None, *, kappa: float = 10.0,
                 entropy_weight: float = 1.0, **options) -> None:
        if options.get("queue_length", 0):
            raise ValueError("queue_length must be 0 for ERSwAV: the ER loss has no Sinkhorn problem to pad")
        super().__init__(backbone, projector, **options)
        self._init_er(kappa, entropy_weight)

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z1, _, s1, s2 = self.scores(view1, view2)
        p1, p2 = F.softmax(s1 / self.temperature, dim=1), F.softmax(s2 / self.temperature, dim=1)
        entropy = 0.5 * (categorical_entropy_of_mean(p1) + categorical_entropy_of_mean(p2))
        return self._er(entropy, categorical_reconstruction_loss(p1, p2), z1)


#: The ER variants by the name of the method they are built from.
ER_METHODS = {"simclr": ERSimCLR, "byol": ERBYOL, "swav": ERSwAV}


def make_er_method(name: str, backbone: nn.Module, **options) -> JointEmbeddingMethod:
    """The ER variant of method ``name`` (``"simclr"``, ``"byol"`` or ``"swav"``), as :func:`make_method`
    builds the original: ``options`` are the original's plus ``kappa`` and ``entropy_weight``."""
    check_choice(name, "name", sorted(ER_METHODS))
    return _build(ER_METHODS[name], name, backbone, options)


#: The names the book uses (and :data:`jessl_lite.plots.METHOD_COLORS` keys), by ``METHODS`` key.
METHOD_NAMES = {
    "simclr": "SimCLR",
    "swav": "SwAV",
    "byol": "BYOL",
    "simsiam": "SimSiam",
    "barlow_twins": "Barlow Twins",
    "vicreg": "VICReg",
}


def make_method(name: str, backbone: nn.Module, **options) -> JointEmbeddingMethod:
    """A method by name, one of ``METHODS`` (``"simclr"``, ``"swav"``, ``"byol"``, ``"simsiam"``,
    ``"barlow_twins"``, ``"vicreg"``), for the command line and the chapters.

    ``options`` go to the method's constructor. An option the method does not take is a
    ``ValueError`` naming it and the options the method accepts (SimCLR has no ``pred_dim``,
    SimSiam no ``hidden_dim``: its projector's width is ``dim``), never silently dropped.

    Example::

        >>> from jessl_lite.nets import MLP
        >>> make_method("simsiam", MLP(784, [256], 128), dim=64, pred_dim=16).predictor.out_dim
        64
    """
    check_choice(name, "name", sorted(METHODS))
    return _build(METHODS[name], name, backbone, options)


def _build(cls: type, name: str, backbone: nn.Module, options: dict) -> JointEmbeddingMethod:
    # The options a class and the classes it is built from accept (an ER variant passes the rest on).
    accepted = []
    for klass in cls.__mro__:
        if klass is nn.Module:
            break
        if "__init__" in vars(klass):
            for p, param in inspect.signature(klass.__init__).parameters.items():
                if p not in ("self", "backbone") and param.kind is not param.VAR_KEYWORD and p not in accepted:
                    accepted.append(p)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{name} does not take {', '.join(unknown)}; it accepts {', '.join(accepted)}")
    return cls(backbone, **options)


# --- helpers -------------------------------------------------------------------------------------


def _feature_dim(backbone: nn.Module) -> int:
    # A default head is sized by the backbone's features.
    if not isinstance(getattr(backbone, "out_dim", None), int):
        raise ValueError("backbone must have an int attribute out_dim when projector is None")
    return backbone.out_dim



def _check_head(head, name: str) -> nn.Module:
    return check_instance(head, name, nn.Module, "an nn.Module or None")


def _check_views(view1, view2) -> None:
    # Every step: metadata only (no read of the data, so no wait for the GPU).
    check_matching_tensors({"view1": view1, "view2": view2}, min_ndim=2, dims="(N, ...)", floating=True,
                           nonempty=True)


def _logged_std(z: torch.Tensor) -> torch.Tensor:
    # A log at every step: no graph, and no .item() (the fit loop decides when to synchronise).
    with torch.no_grad():
        return std_of_normalized(z)
