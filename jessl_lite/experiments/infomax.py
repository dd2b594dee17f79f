r"""Mutual-information maximization between two halves of an image (Tschannen et al. 2020).

Chapter 5 (``notebooks/05_mi_is_not_enough.ipynb``) ports the experiments of Tschannen,
Djolonga, Rubenstein, Gelly & Lucic (2020), "On Mutual Information Maximization for
Representation Learning", ICLR, from their TensorFlow 1 notebook to this package. An MNIST digit
is cut into its top half :math:`x_1` and bottom half :math:`x_2` (392 pixels each); two encoders
:math:`g_1, g_2` and a critic :math:`f` are trained to maximize a variational bound

.. math:: \max_{g_1, g_2, f}\; I_{\mathrm{EST}}\big(g_1(x_1); g_2(x_2)\big) \;\le\; I(x_1; x_2),

with :math:`I_{\mathrm{EST}}` InfoNCE or NWJ (:mod:`jessl_lite.bounds`), and the representation
:math:`g_1(x_1)` is judged by a linear probe on the digit's label. With bijective encoders
(:mod:`jessl_lite.flows`) the true MI never changes, yet the probe accuracy does.

* :class:`InfoMax`: the two encoders, the critic and the bound, as a joint-embedding method
  that :func:`jessl_lite.train.fit` trains on :class:`~jessl_lite.views.TopBottomViews`;
  ``target=t`` trains towards :math:`|I_{\mathrm{EST}} - t|` instead (the paper's section 3.3);
* :meth:`ExperimentSizes.fit_config`: the paper's optimizer (Adam at a constant learning rate) as
  a :class:`~jessl_lite.train.FitConfig`, and :func:`infomax_monitor`, the evaluation hook that
  refits the probe and measures the bound on held-out digits (the paper's figures 1, 3, 4);
* :func:`train_adversarial`: an encoder trained to defeat a linear classifier (figure 1c), with
  its own loop (two optimizers), returning a :class:`~jessl_lite.runs.Run` like ``fit``;
* :func:`flow_encoder`, :func:`mlp_encoder`, :func:`conv_encoder`, :func:`make_critic`: the
  paper's architectures, sized by arguments so a chapter's quick profile can shrink them.

Example::

    >>> g1, g2 = flow_encoder(num_layers=2, hidden_dims=(32,)), flow_encoder(num_layers=2, hidden_dims=(32,), seed=1)
    >>> method = InfoMax(g1, g2, make_critic("bilinear", HALF_DIM), "infonce")
    >>> loss, logs = method(torch.rand(8, 1, 14, 28), torch.rand(8, 1, 14, 28))
    >>> sorted(logs)
    ['bound']

Trained as chapter 5 trains it (``train``: MNIST training digits, unlabelled for pretraining
and labelled for the probe, as in the paper; ``test``: MNIST test digits for the probe's score)::

    sizes = SIZES["quick"]
    train, test = sizes.data()
    monitor = infomax_monitor(train, test, batch_size=sizes.batch_size, C=sizes.probe_C, scaling=sizes.probe_scaling)
    run = fit(method, train, TopBottomViews(), sizes.fit_config(sizes.steps), hooks=[monitor])
    run.curve("bound"), run.metric("probe_accuracy"), run.metric("heldout_bound")
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..bounds import BilinearCritic, ConcatCritic, SeparableCritic, infonce_bound, nwj_bound
from ..checkpoints import (
    CHECKPOINT_NAME,
    CheckpointError,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from ..data import ImageData
from ..evaluate import embeddings, linear_probe
from ..flows import BijectiveEncoder
from ..methods import JointEmbeddingMethod
from ..nets import MLP
from ..profiles import smoke_enabled, smoke_steps
from ..runs import Run
from ..train import FitConfig, _describe, _git_commit, _interrupt_flag
from ..validation import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_int_sequence,
    check_number,
    check_path,
    check_sizes,
    check_tensor,
)
from ..views import TopBottomViews

__all__ = [
    "HALF_DIM",
    "BOUNDS",
    "ExperimentSizes",
    "SIZES",
    "InfoMax",
    "flow_encoder",
    "mlp_encoder",
    "conv_encoder",
    "make_critic",
    "PROBE_CS",
    "PROBE_SCALINGS",
    "probe_accuracy",
    "probe_accuracies",
    "heldout_bound",
    "infomax_monitor",
    "train_adversarial",
]

#: Pixels in half an MNIST digit: 14 rows of 28.
HALF_DIM = 14 * 28

#: The two estimators of the paper, by name.
BOUNDS = {"infonce": infonce_bound, "nwj": nwj_bound}

#: The probe strengths (scikit-learn's ``C``, the inverse of the L2 penalty) chapter 5 compares:
#: the paper's probe uses the last.
PROBE_CS = (0.01, 0.1, 1.0, 10.0)

#: How :func:`probe_accuracy` puts features on a common scale before the fit.
PROBE_SCALINGS = ("minmax", "global", "per_feature")


@dataclass(frozen=True)
class ExperimentSizes:
    """The sizes of chapter 5's experiments in one profile (the code is the same in both).

    ``full`` is Tschannen et al.'s scale where a GPU allows it (their 21000 steps, batch 128,
    30 coupling layers of 512-512 MLPs, learning rate 1e-4); ``quick`` shrinks steps and
    widths so that the whole chapter runs in a minute or two on two CPU cores, with a larger
    learning rate to make up for the fewer steps. The tests run ``SIZES["quick"]``.

    The sizes of the runs that :func:`~jessl_lite.train.fit` trains (``steps``, ``critic_steps``,
    ``encoder_steps``, the batch sizes, ``lr``, ``evals``) become a
    :class:`~jessl_lite.train.FitConfig` in one place, :meth:`fit_config`; the adversarial run
    has its own loop (:func:`train_adversarial`) and takes its ``adversarial_*`` sizes directly.
    """

    train_size: int = 60000  # MNIST training digits: pretraining (no labels) and the probe's fit
    test_size: int = 10000  # MNIST test digits: the probe's score and the held-out bound
    batch_size: int = 128
    probe_C: float = 10.0  # the paper's probe: min-max scaling, C = 10
    probe_scaling: str = "minmax"
    # Evidence 1: bijective encoders, bilinear critic, InfoNCE and NWJ.
    flow_layers: int = 30
    flow_hidden: tuple[int, ...] = (512, 512)
    steps: int = 21000
    lr: float = 1e-4
    evals: int = 21
    # Evidence 2a: the adversarial encoder (affine coupling layers, as in the paper).
    adversarial_steps: int = 4000
    adversarial_warmup: int = 1000
    adversarial_classifier_steps: int = 10
    adversarial_lr: float = 1e-3
    adversarial_encoder_lr: float = 1e-5
    # Evidence 2b: critics of growing capacity on MLP encoders.
    critic_batch_size: int = 128
    critic_hidden: int = 200
    critic_steps: int = 21000
    # Evidence 3: ConvNet and MLP encoders trained to the same estimate.
    conv_channels: int = 64
    encoder_steps: int = 21000
    targets: tuple[float, ...] = (2.0, 4.0)

    def __post_init__(self) -> None:
        check_int(self.train_size, "train_size", minimum=2, maximum=60000)
        check_int(self.test_size, "test_size", minimum=2, maximum=10000)
        check_choice(self.probe_scaling, "probe_scaling", PROBE_SCALINGS)
        check_int_sequence(self.flow_hidden, "flow_hidden", minimum=1)
        for name in ("batch_size", "flow_layers", "steps", "evals", "adversarial_steps",
                     "adversarial_classifier_steps", "critic_batch_size", "critic_hidden", "critic_steps",
                     "conv_channels", "encoder_steps"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.adversarial_warmup, "adversarial_warmup", minimum=0)
        for name in ("probe_C", "lr", "adversarial_lr", "adversarial_encoder_lr"):
            check_number(getattr(self, name), name, low=0.0, low_open=True)
        if isinstance(self.targets, str | bytes) or not isinstance(self.targets, tuple | list):
            raise TypeError(f"targets must be a tuple of MI values (nats); got {self.targets!r}")
        for i, target in enumerate(self.targets):
            check_number(target, f"targets[{i}]", low=0.0)

    def fit_config(self, steps: int, batch_size: int | None = None, *, progress: bool = False) -> FitConfig:
        """The paper's optimizer for a run of ``steps`` steps: Adam at the constant ``lr``, no weight decay.

        Tschannen et al. train every encoder and critic with Adam at a constant learning rate
        (1e-4) and no weight decay, in float32 as their TensorFlow 1 code does
        (``precision="fp32"``; ``"auto"`` would autocast to bf16 on a GPU). The probe runs
        ``evals`` times after the start (every ``steps // evals`` steps). ``batch_size``
        defaults to :attr:`batch_size`; the critic experiment passes :attr:`critic_batch_size`.
        """
        check_int(steps, "steps", minimum=1)
        if batch_size is not None:
            check_int(batch_size, "batch_size", minimum=1)
        check_bool(progress, "progress")
        return FitConfig(
            steps=steps, batch_size=self.batch_size if batch_size is None else batch_size,
            optimizer="adam", lr=self.lr, lr_schedule="constant", weight_decay=0.0, precision="fp32",
            eval_every=max(steps // self.evals, 1), progress=progress,
        )

    def data(self, device: torch.device | str = "cpu") -> tuple[ImageData, ImageData]:
        """``(train, test)``: :attr:`train_size` MNIST training digits and :attr:`test_size` test digits.

        As in the paper, the training digits are both the unlabelled pretraining data and the
        probe's training set; the test digits score the probe and give the held-out bound. A
        subset is drawn with a fixed seed (all digits when the size is the split's)."""
        from ..data import load_mnist

        train, test = load_mnist("train", device=device), load_mnist("test", device=device)
        if self.train_size < len(train):
            train = train.split([self.train_size], seed=0)[0]
        if self.test_size < len(test):
            test = test.split([self.test_size], seed=0)[0]
        return train, test


#: Chapter 5's two profiles (and the smoke setting's sizes, below).
SIZES = {
    "full": ExperimentSizes(),
    "quick": ExperimentSizes(
        train_size=6000, test_size=2000, flow_layers=4, flow_hidden=(128,), steps=300, lr=1e-3, evals=5,
        adversarial_steps=150, adversarial_warmup=200, adversarial_classifier_steps=5, adversarial_encoder_lr=1e-3,
        critic_batch_size=64, critic_hidden=64, critic_steps=400,
        conv_channels=16, encoder_steps=400, targets=(2.0,),
    ),
}
#: The full profile's models and code at the sizes of the smoke setting (``JESSL_SMOKE=1``, CI):
#: a few hundred digits and a few steps of every run (:mod:`jessl_lite.profiles`).
SIZES["smoke"] = dataclasses.replace(
    SIZES["full"], train_size=256, test_size=256, steps=10, evals=1, adversarial_steps=5, adversarial_warmup=5,
    critic_steps=10, encoder_steps=10,
)


# --- the method ------------------------------------------------------------------------------


class InfoMax(JointEmbeddingMethod):
    r"""Two encoders and a critic trained to maximize :math:`I_{\mathrm{EST}}(g_1(x_1); g_2(x_2))`.

    .. math::
        \mathcal L = -I_{\mathrm{EST}}\big(f(g_1(x_1^{(i)}), g_2(x_2^{(j)}))_{i,j}\big)
        \quad\text{or, with a target } t,\quad \mathcal L = \big|I_{\mathrm{EST}} - t\big|

    The score matrix of a batch of ``K`` pairs pairs every top half with every bottom half: the
    diagonal holds the ``K`` true pairs, the rest the negatives. The target form is Tschannen et
    al.'s section 3.3: encoders trained to the *same* estimate ``t`` can then be compared.

    Args:
        g1, g2: encoders of the top and bottom halves, ``(N, 1, 14, 28) -> (N, D1)``, ``(N, D2)``.
        critic: maps ``(z1: (K, D1), z2: (K, D2))`` to the ``(K, K)`` score matrix
            (:func:`make_critic`).
        bound: ``"infonce"`` or ``"nwj"`` (:data:`BOUNDS`).
        target: ``None`` maximizes the bound; a number ``t`` minimizes ``|bound - t|``.

    ``embed(x)`` is :math:`g_1(x)`, the representation the probes evaluate. The learning rate
    schedule is the config's (the paper's constant one: :meth:`ExperimentSizes.fit_config`).
    """

    def __init__(
        self, g1: nn.Module, g2: nn.Module, critic: nn.Module, bound: str = "infonce", *, target: float | None = None
    ) -> None:
        check_instance(g1, "g1", nn.Module, "an nn.Module")  # before the base class calls it backbone
        super().__init__(g1)
        check_instance(g2, "g2", nn.Module, "an nn.Module")
        check_instance(critic, "critic", nn.Module, "an nn.Module")
        check_choice(bound, "bound", sorted(BOUNDS))
        if target is not None:
            # Any finite number: |I_EST - t| is a fine objective for a negative t too (it maximizes the bound).
            target = check_number(target, "target")
        self.g2, self.critic, self.bound_name, self.target = g2, critic, bound, target

    @property
    def g1(self) -> nn.Module:
        return self.backbone

    @property
    def name(self) -> str:
        """What a :class:`~jessl_lite.runs.Run` of this method is called: ``"InfoMax (infonce, target 2)"``."""
        target = "" if self.target is None else f", target {self.target:g}"
        return f"InfoMax ({self.bound_name}{target})"

    def scores(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        """The ``(K, K)`` matrix ``f(g1(x1_i), g2(x2_j))``."""
        _check_halves(view1, view2)
        return self.critic(self.backbone(view1), self.g2(view2))

    def estimate(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        """The bound on this batch, in nats (0-dim)."""
        return BOUNDS[self.bound_name](self.scores(view1, view2))

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        value = self.estimate(view1, view2)
        loss = -value if self.target is None else (value - self.target).abs()
        return loss, {"bound": value.detach()}


# --- the paper's architectures ---------------------------------------------------------------


def flow_encoder(
    num_layers: int = 30,
    hidden_dims: Sequence[int] = (512, 512),
    *,
    affine: bool = False,
    init_std: float = 1e-4,
    seed: int = 0,
) -> nn.Sequential:
    """A :class:`~jessl_lite.flows.BijectiveEncoder` of a flattened half image: ``(N, 1, 14, 28) -> (N, 392)``.

    Defaults are the paper's: 30 additive coupling layers, MLPs of two hidden layers of 512,
    weights initialized with std ``1e-4``. ``seed`` picks the layers' permutations.
    """
    return nn.Sequential(
        nn.Flatten(),
        BijectiveEncoder(HALF_DIM, num_layers, hidden_dims, affine=affine, init_std=init_std, seed=seed),
    )


def mlp_encoder(hidden_dims: Sequence[int] = (300, 300), out_dim: int = 100) -> MLP:
    """The paper's MLP encoder: ``392 -> 300 -> 300 -> 100`` with ReLU, no normalization."""
    return MLP(HALF_DIM, check_int_sequence(hidden_dims, "hidden_dims", minimum=1), out_dim, batchnorm=False)


def conv_encoder(channels: int = 64, out_dim: int = 100, kernel_size: int = 5) -> nn.Sequential:
    """The paper's ConvNet encoder of a ``14 x 28`` half image.

    ``conv(channels, 5x5, stride 2) -> ReLU -> conv(2 channels, 5x5, stride 2) -> ReLU ->
    LayerNorm over (C, H, W) -> global average pool -> Linear(out_dim)``. The LayerNorm is a
    ``GroupNorm`` with one group, which normalizes over channels and positions together and
    keeps a scale and shift per channel, as the paper's layer does.
    """
    check_sizes(channels=channels, out_dim=out_dim, kernel_size=kernel_size)
    pad = kernel_size // 2
    return nn.Sequential(
        nn.Conv2d(1, channels, kernel_size, stride=2, padding=pad),
        nn.ReLU(),
        nn.Conv2d(channels, 2 * channels, kernel_size, stride=2, padding=pad),
        nn.ReLU(),
        nn.GroupNorm(1, 2 * channels, eps=1e-6),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * channels, out_dim),
    )


def make_critic(kind: str, dim: int, *, hidden_dim: int = 100, embed_dim: int = 100, layers: int = 1) -> nn.Module:
    r"""One of the paper's critics on two ``dim``-wide representations, from :mod:`jessl_lite.bounds`.

    * ``"bilinear"``: :math:`z_1^\top W z_2` (:class:`~jessl_lite.bounds.BilinearCritic`);
    * ``"separable"``: :math:`\phi(z_1)^\top \psi(z_2)` with two MLPs of ``layers`` hidden
      layers of ``hidden_dim`` and output ``embed_dim`` (the paper: 1 layer, 100, 100);
    * ``"concat"``: an MLP on :math:`[z_1, z_2]` (the paper's "MLP" critic: 1 hidden layer of 200).
    """
    check_choice(kind, "kind", ("bilinear", "separable", "concat"))
    # Checked under this function's names (the critics would call dim "dim_x").
    check_sizes(dim=dim, hidden_dim=hidden_dim, embed_dim=embed_dim)
    check_int(layers, "layers", minimum=0)
    if kind == "bilinear":
        return BilinearCritic(dim, dim)
    if kind == "separable":
        return SeparableCritic(dim, dim, hidden_dim=hidden_dim, layers=layers, embed_dim=embed_dim)
    if kind == "concat":
        return ConcatCritic(dim, dim, hidden_dim=hidden_dim, layers=layers)
    raise ValueError(f"kind must be 'bilinear', 'separable' or 'concat'; got {kind!r}")


# --- evaluation ------------------------------------------------------------------------------


def probe_accuracy(
    encoder: nn.Module, train: ImageData, test: ImageData, *, C: float = 10.0, scaling: str = "minmax"
) -> float:
    r"""Linear-probe accuracy of ``encoder`` on the top halves: logistic regression on frozen features.

    The encoder sees the top half of every image of ``train`` (to fit a multinomial logistic
    regression with L2 strength ``1/C``) and of ``test`` (to score it). Pass ``nn.Flatten()`` as
    the encoder for the pixel baseline. :func:`probe_accuracies` fits several ``C`` on one pass
    of the encoder.

    Args:
        scaling: how features are put on a common scale before the fit.
            ``"minmax"`` (default) is Tschannen et al.'s probe (their ``mirl.ipynb``): every feature is
            mapped to ``[0, 1]`` by the training features' minimum and maximum (scikit-learn's
            ``MinMaxScaler``), then a multinomial logistic regression is fitted with the saga
            solver at tolerance 0.1 (their setting; ``random_state=0`` fixes saga's order).
            With ``C = 10`` and all 60,000 training digits this is the protocol of the paper.
            ``"global"`` centres the features and divides by one number, their
            root-mean-square :math:`\sqrt{\tfrac1{ND}\sum_{n,d} (z_{nd} - \bar z_d)^2}`, so the
            probe sees the representation's own geometry (lbfgs). ``"per_feature"`` standardizes
            every coordinate (:func:`~jessl_lite.evaluate.linear_probe`). Per-feature scalings
            (``"minmax"``, ``"per_feature"``) interact with bijective encoders: a coordinate that
            is constant in pixel space (the always-blank border of a digit) and that a flow shifts
            by a tiny function of other pixels becomes a full-size feature. Chapter 5 compares them.

    scikit-learn runs on one thread: on a small shared CPU, threads fighting over two cores
    made each fit 10 to 30 times slower in our measurements.
    """
    check_number(C, "C", low=0.0, low_open=True)
    return probe_accuracies(encoder, train, test, Cs=(C,), scaling=scaling)[C]


def probe_accuracies(
    encoder: nn.Module, train: ImageData, test: ImageData, *, Cs: Sequence[float] = PROBE_CS, scaling: str = "minmax"
) -> dict[float, float]:
    """:func:`probe_accuracy` for every ``C`` of ``Cs`` (``{C: accuracy}``), with one pass of the encoder.

    The default is the paper's probe (``scaling="minmax"``) at the strengths chapter 5 compares.
    """
    check_instance(encoder, "encoder", nn.Module, "an nn.Module")
    check_instance(train, "train", ImageData, "an ImageData")
    check_instance(test, "test", ImageData, "an ImageData")
    check_choice(scaling, "scaling", PROBE_SCALINGS)
    Cs = tuple(dict.fromkeys(_check_cs(Cs, "Cs")))  # each C once, in the order given
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    views = TopBottomViews()
    device = next(encoder.parameters(), torch.empty(0, device=train.device)).device
    z_train = embeddings(encoder, train.images.to(device), views.prepare).double().cpu()
    z_test = embeddings(encoder, test.images.to(device), views.prepare).double().cpu()
    y_train, y_test = train.labels.cpu().numpy(), test.labels.cpu().numpy()
    out: dict[float, float] = {}
    with threadpool_limits(limits=1):
        if scaling == "per_feature":
            return {C: linear_probe(z_train, train.labels, z_test, test.labels, C=C) for C in Cs}
        if scaling == "minmax":
            # scikit-learn's MinMaxScaler, written out: (z - min) / (max - min) per feature, a constant
            # feature mapped to 0. It divides where MinMaxScaler multiplies by the reciprocal; the last
            # bit differs and moved the full pixel baseline by one test digit of 10,000 (84.86% here,
            # 84.85% with MinMaxScaler, C = 10). The stored reference records were made with this form.
            low, high = z_train.min(dim=0).values, z_train.max(dim=0).values
            span = torch.where(high > low, high - low, torch.ones_like(high))
            a, b = ((z_train - low) / span).numpy(), ((z_test - low) / span).numpy()
            for C in Cs:
                model = LogisticRegression(C=C, solver="saga", tol=0.1, random_state=0)
                out[C] = float(model.fit(a, y_train).score(b, y_test))
            return out
        mean = z_train.mean(dim=0)
        scale = float((z_train - mean).pow(2).mean().sqrt()) or 1.0
        a, b = ((z_train - mean) / scale).numpy(), ((z_test - mean) / scale).numpy()
        for C in Cs:
            out[C] = float(LogisticRegression(C=C, max_iter=1000).fit(a, y_train).score(b, y_test))
    return out


@torch.no_grad()
def heldout_bound(method: InfoMax, data: ImageData, batch_size: int) -> float:
    """The method's bound averaged over the full batches of ``batch_size`` pairs of ``data``, in nats.

    Batches are consecutive (``data`` is already in a random order after
    :meth:`~jessl_lite.data.ImageData.split`); ``K`` matters because InfoNCE is capped at ``log K``.
    """
    check_instance(method, "method", InfoMax, "an InfoMax")
    check_instance(data, "data", ImageData, "an ImageData")
    check_int(batch_size, "batch_size", minimum=2, maximum=len(data))
    views = TopBottomViews()
    device = next(method.parameters()).device
    mode = method.training
    method.eval()
    try:
        values = []
        for start in range(0, len(data) - batch_size + 1, batch_size):
            top, bottom = views(data.images[start : start + batch_size].to(device))
            values.append(float(method.estimate(top, bottom)))
    finally:
        method.train(mode)
    return sum(values) / len(values)


def infomax_monitor(
    probe_train: ImageData,
    probe_test: ImageData,
    *,
    batch_size: int,
    C: float = 10.0,
    scaling: str = "minmax",
    Cs: Sequence[float] = (),
) -> Callable[[InfoMax, int], dict[str, float]]:
    """The evaluation hook of chapter 5's runs: the probe on :math:`g_1` and the bound on held-out digits.

    ``hook(method, step)`` returns ``{"probe_accuracy": probe_accuracy(method.g1, probe_train,
    probe_test, C=C, scaling=scaling), "heldout_bound": heldout_bound(method, probe_test,
    batch_size)}``, and ``"probe_accuracy_C<c>"`` (``"probe_accuracy_C0.01"``) for every ``c`` of
    ``Cs``, all from one pass of the encoder; give it to :func:`~jessl_lite.train.fit`
    (``hooks=[monitor]``), which runs it before training, every ``eval_every`` steps and at the
    end. Use the training batch size for ``batch_size``: InfoNCE is capped at ``log K``, so
    held-out and training bounds compare only at the same ``K``.
    """
    check_instance(probe_train, "probe_train", ImageData, "an ImageData")
    check_instance(probe_test, "probe_test", ImageData, "an ImageData")
    check_int(batch_size, "batch_size", minimum=2, maximum=len(probe_test))
    check_number(C, "C", low=0.0, low_open=True)
    check_choice(scaling, "scaling", PROBE_SCALINGS)
    Cs = _check_cs(Cs, "Cs", allow_empty=True)

    def hook(method: InfoMax, step: int) -> dict[str, float]:
        if not isinstance(method, InfoMax):
            raise TypeError(f"infomax_monitor evaluates an InfoMax; got {type(method).__name__}")
        accuracies = probe_accuracies(method.g1, probe_train, probe_test, Cs=(C, *Cs), scaling=scaling)
        values = {"probe_accuracy": accuracies[C]}
        values.update({f"probe_accuracy_C{c:g}": accuracies[c] for c in Cs})
        values["heldout_bound"] = heldout_bound(method, probe_test, batch_size)
        return values

    return hook


# --- the adversarial encoder -----------------------------------------------------------------


def train_adversarial(
    encoder: nn.Module,
    pretrain: ImageData,
    probe_train: ImageData,
    probe_test: ImageData,
    *,
    steps: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    encoder_lr: float | None = None,
    classifier_steps: int = 10,
    warmup_steps: int = 1000,
    evals: int = 5,
    seed: int = 0,
    probe_C: float = 10.0,
    probe_scaling: str = "minmax",
    probe_Cs: Sequence[float] = (),
    until: int | None = None,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
) -> Run:
    r"""Train ``encoder`` against a linear classifier, as Tschannen et al.'s figure 1c.

    A linear classifier :math:`h(z) = Wz + b` on :math:`z = g(x_1)` learns the labels
    (cross-entropy, Adam at ``lr``); the encoder learns to make its predictions uniform,

    .. math::
        \mathcal L_g = \mathbb E\Big[-\tfrac{1}{C} \textstyle\sum_{c=1}^{C}
        \log \operatorname{softmax}\big(h(g(x_1))\big)_c\Big],

    with Adam at ``encoder_lr`` (the paper: ``lr / 100``). The classifier first trains alone for
    ``warmup_steps`` steps, then takes ``classifier_steps`` steps per encoder step. A bijective
    ``g`` keeps :math:`I(g(x_1); x_2) = I(x_1; x_2)` throughout; the probe shows what happens to
    linear separability. The paper: 4000 encoder steps, batch 128, ``lr = 1e-3``, 30 affine
    coupling layers. Batches come from ``pretrain`` (with its labels) in an order fixed by ``seed``.

    Why not :func:`~jessl_lite.train.fit`: ``fit`` takes one optimizer step of one loss on two
    views of unlabelled images; this is a two-player game on labelled images, with two
    optimizers, ``classifier_steps`` classifier updates per encoder update and a warm-up of the
    classifier alone. It returns the same record, a :class:`~jessl_lite.runs.Run`, whose steps
    are the game's: steps ``0 .. warmup_steps - 1`` are the warm-up (one classifier update each;
    ``"encoder_loss"`` is NaN there), each later step is ``classifier_steps`` classifier updates
    and one encoder update; ``run.steps == warmup_steps + steps``. Curves: ``"classifier_loss"``
    (the adversary's cross-entropy with the true labels, after its last update of the step) and
    ``"encoder_loss"`` (the encoder's cross-entropy with uniform labels). The evaluation
    ``"probe_accuracy"`` (a fresh logistic regression, :func:`probe_accuracy`, at ``probe_C``;
    also ``"probe_accuracy_C<c>"`` for each ``c`` of ``probe_Cs``) runs after the warm-up, every
    ``steps // evals`` encoder steps and at the end.

    ``until`` stops after that many steps of the game (warm-up included), before the final
    evaluation (to re-check a record's first steps). ``checkpoint_dir`` with
    ``checkpoint_every`` (steps of the game; 0: at the end and on Ctrl-C only) writes
    ``checkpoint.pt`` (both networks, both optimizers, the batch generator, the record so far);
    ``resume=True`` continues from it. ``progress`` shows a progress bar.
    """
    check_instance(encoder, "encoder", nn.Module, "an nn.Module")
    for name, data in (("pretrain", pretrain), ("probe_train", probe_train), ("probe_test", probe_test)):
        check_instance(data, name, ImageData, "an ImageData")
    for name, value in (("steps", steps), ("classifier_steps", classifier_steps), ("evals", evals)):
        check_int(value, name, minimum=1)
    check_int(warmup_steps, "warmup_steps", minimum=0)
    check_int(batch_size, "batch_size", minimum=1, maximum=len(pretrain))
    check_int(seed, "seed", minimum=0)
    check_number(lr, "lr", low=0.0, low_open=True)
    check_number(probe_C, "probe_C", low=0.0, low_open=True)
    check_choice(probe_scaling, "probe_scaling", PROBE_SCALINGS)
    probe_Cs = _check_cs(probe_Cs, "probe_Cs", allow_empty=True)
    if until is not None:
        check_int(until, "until", minimum=1)
    check_bool(progress, "progress")
    check_int(checkpoint_every, "checkpoint_every", minimum=0)
    check_bool(resume, "resume")
    if checkpoint_dir is not None:
        checkpoint_dir = Path(check_path(checkpoint_dir, "checkpoint_dir"))
    elif checkpoint_every or resume:
        raise ValueError("checkpoint_every and resume need a checkpoint_dir")
    encoder_lr = lr / 100 if encoder_lr is None else check_number(encoder_lr, "encoder_lr", low=0.0, low_open=True)
    settings = {"steps": steps, "batch_size": batch_size, "optimizer": "adam", "lr": lr, "encoder_lr": encoder_lr,
                "classifier_steps": classifier_steps, "warmup_steps": warmup_steps, "evals": evals,
                "probe_C": probe_C, "probe_scaling": probe_scaling, "probe_Cs": list(probe_Cs), "seed": seed}
    # The smoke setting (JESSL_SMOKE=1) shortens both phases, as it does every fit, and keeps its
    # checkpoints apart from a real run's.
    every = max(steps // evals, 1)  # the evaluations of the whole run (under smoke too)
    warmup, steps = smoke_steps(warmup_steps), smoke_steps(steps)
    if smoke_enabled() and checkpoint_dir is not None:
        checkpoint_dir, resume = checkpoint_dir / "smoke", False
    start = time.perf_counter()
    device = pretrain.device
    encoder.to(device).train()
    views = TopBottomViews()
    with torch.no_grad():
        width = encoder(views.prepare(pretrain.images[:2])).shape[1]
    classes = len(pretrain.classes)
    classifier = nn.Linear(width, classes).to(device)
    opt_c = torch.optim.Adam(classifier.parameters(), lr=lr)
    opt_e = torch.optim.Adam(encoder.parameters(), lr=encoder_lr)
    generator = torch.Generator().manual_seed(seed)
    run = Run(method="adversarial encoder", seed=seed, config=settings, info={"data": pretrain.name},
              device=_describe(device), torch_version=str(torch.__version__), git_commit=_git_commit())
    ckpt = checkpoint_dir / CHECKPOINT_NAME if checkpoint_dir is not None else None
    identity = {"settings": settings, "data": pretrain.name, "width": width,
                "parameters": sum(p.numel() for p in encoder.parameters())}
    first, seconds_before = 0, 0.0
    if resume and ckpt.is_file():
        saved = load_checkpoint(ckpt)
        if saved["identity"] != identity:
            raise CheckpointError(f"{ckpt} was written by a differently configured run ({saved['identity']}, "
                                  f"this one is {identity}); delete it to start over")
        encoder.load_state_dict(saved["model"]["encoder"])
        classifier.load_state_dict(saved["model"]["classifier"])
        opt_e.load_state_dict(saved["optimizer"]["encoder"])
        opt_c.load_state_dict(saved["optimizer"]["classifier"])
        restore_rng_state(saved["rng"], generator)
        first, run = saved["step"], Run.from_dict(saved["run"])
        seconds_before = run.seconds

    def save(done: int) -> None:
        run.seconds = seconds_before + time.perf_counter() - start
        save_checkpoint(ckpt, {"step": done, "model": {"encoder": encoder.state_dict(),
                                                       "classifier": classifier.state_dict()},
                               "optimizer": {"encoder": opt_e.state_dict(), "classifier": opt_c.state_dict()},
                               "scaler": None, "rng": rng_state(generator), "data_order": None,
                               "run": run.to_dict(), "identity": identity})

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(len(pretrain), (batch_size,), generator=generator).to(device)
        return views.prepare(pretrain.images[index]), pretrain.labels[index]

    def classifier_step() -> float:
        x, y = batch()
        with torch.no_grad():
            z = encoder(x)
        loss = F.cross_entropy(classifier(z), y)
        opt_c.zero_grad(set_to_none=True)
        loss.backward()
        opt_c.step()
        return float(loss.detach())

    def evaluate(done: int) -> None:
        accuracies = probe_accuracies(encoder, probe_train, probe_test, Cs=(probe_C, *probe_Cs), scaling=probe_scaling)
        run.log_eval(done, {"probe_accuracy": accuracies[probe_C],
                            **{f"probe_accuracy_C{c:g}": accuracies[c] for c in probe_Cs}})

    total = warmup + steps
    end = total if until is None else min(until, total)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=first, desc="adversarial encoder", unit="step", disable=not progress)
    # A first Ctrl-C finishes the step and writes the checkpoint (as in fit); a second stops at once.
    with _interrupt_flag() as interrupted:
        for step in range(first, end):
            if step >= warmup and (step - warmup) % every == 0:
                evaluate(step)
            if step < warmup:
                run.log_step(step, {"classifier_loss": classifier_step()})
            else:
                for _ in range(classifier_steps):
                    c_loss = classifier_step()
                x, _ = batch()
                # Cross-entropy with the uniform distribution over classes: minimal when h(g(x)) is flat.
                e_loss = -F.log_softmax(classifier(encoder(x)), dim=1).mean(dim=1).mean()
                opt_e.zero_grad(set_to_none=True)
                e_loss.backward()
                opt_e.step()
                run.log_step(step, {"classifier_loss": c_loss, "encoder_loss": float(e_loss.detach())})
            bar.update()
            done = step + 1
            if ckpt is not None and done < total and (
                    (checkpoint_every and done % checkpoint_every == 0) or interrupted()):
                save(done)
            if interrupted():
                bar.close()
                where = f"; the checkpoint {ckpt} holds step {done}" if ckpt is not None else ""
                raise KeyboardInterrupt(f"adversarial training interrupted after step {done} of {total}{where}")
        if until is None:
            evaluate(total)
    bar.close()
    run.seconds = seconds_before + time.perf_counter() - start
    if ckpt is not None and until is None:
        save(total)
    return run


# --- helpers ---------------------------------------------------------------------------------


def _check_cs(Cs, name: str, *, allow_empty: bool = False) -> tuple[float, ...]:
    if isinstance(Cs, str | bytes) or not isinstance(Cs, Sequence):
        raise TypeError(f"{name} must be a sequence of probe strengths C > 0; got {Cs!r}")
    if not Cs and not allow_empty:
        raise ValueError(f"{name} must hold at least one C")
    return tuple(check_number(c, f"{name}[{i}]", low=0.0, low_open=True) for i, c in enumerate(Cs))


def _check_halves(view1, view2) -> None:
    # Every training step: metadata only. Half images (N, 1, 14, 28) or flat halves (N, 392).
    for name, view in (("view1", view1), ("view2", view2)):
        check_tensor(view, name, min_ndim=2, dims="(N, 1, 14, 28)", floating=True, nonempty=True)
    if view2.shape[0] != view1.shape[0]:
        raise ValueError(f"view2 must hold as many halves as view1 ({view1.shape[0]}); got shape "
                         f"{tuple(view2.shape)}")
