"""Chapter 5's reference runs: Tschannen et al.'s experiments at their sizes and probe, 3 seeds.

Tschannen, Djolonga, Rubenstein, Gelly & Lucic (ICLR 2020) train on all 60,000 MNIST training
digits, cut into top and bottom halves, with batches of 128 and Adam at 1e-4 for 21,000 steps,
and judge the top half's representation by their notebook's (``mirl.ipynb``) linear probe:
features of all 60,000 training and 10,000 test top halves, min-max scaling, multinomial
logistic regression (saga, tolerance 0.1) with C = 10. Here the encoders, critics, batch size,
optimizer, data and probe are theirs; the number of steps is what fits one hour of two CPU
cores for all variants and seeds together (the paper's 21,000 steps of the 30-coupling flows
alone would take about 2.3 hours per run on one core, at 0.4 s a step). The probe is fitted at
C = 0.01, 0.1, 1 and 10 at each evaluation (before training and at the end), because the
chapter's verdicts depend on C. The adversarial encoder (figure 1c: 30 affine couplings against
a linear classifier, classifier Adam 1e-3, encoder Adam 1e-5, 10 classifier steps per encoder
step after 1000 warm-up steps of the classifier alone; the paper: 4000 encoder steps) has its
own two-player loop, ``train_adversarial``; each of its classifier steps costs a forward pass of
the flow (1.7 s per encoder step on one core), so it runs 400 of the paper's 4000 encoder steps,
probed after the warm-up, half-way and at the end.
"""

from __future__ import annotations

import functools

import torch

from ..data import load_mnist
from ..experiments.infomax import (
    HALF_DIM,
    PROBE_CS,
    SIZES,
    InfoMax,
    conv_encoder,
    flow_encoder,
    infomax_monitor,
    make_critic,
    mlp_encoder,
    train_adversarial,
)
from ..views import TopBottomViews
from . import Experiment, Setup, register

#: The paper's probe strength; the others of :data:`PROBE_CS` are stored beside it.
PAPER_C = 10.0

#: Training steps of each experiment (the paper: 21,000 each), chosen by the one-hour budget.
STEPS = {"evidence1": 400, "critics": 2000, "encoders": 2000, "adversarial": 400}

#: The estimate targets of Evidence 3 (the paper's, in nats).
TARGETS = (2.0, 4.0)

PROBE = ("min-max scaling, multinomial logistic regression (saga, tol 0.1), C in "
         f"{list(PROBE_CS)} (the paper: C = {PAPER_C:g}), fitted on all 60000 mnist-train top halves, "
         "scored on all 10000 mnist-test top halves")


@functools.cache
def _data():
    return load_mnist("train"), load_mnist("test")


def _setup(method: InfoMax, seed: int, steps: int, info: dict, finish=None) -> Setup:
    train, test = _data()
    sizes = SIZES["full"]
    config = sizes.fit_config(steps).replace(eval_every=0, seed=seed, progress=True)
    monitor = infomax_monitor(train, test, batch_size=config.batch_size, C=PAPER_C, scaling="minmax", Cs=PROBE_CS)
    info = {"data": "mnist-train (60000), top and bottom halves", "evaluation": PROBE
            + "; held-out bound on mnist-test in batches of 128", **info}
    return Setup(method, train, TopBottomViews(), config, [monitor], info, finish)


def _flow_checks(flow, record) -> None:
    # What makes Evidence 1 and 2 arguments: the trained encoder is still a bijection (inverse on
    # every test digit), with its log-determinants (0 for the additive flows, free for the affine one).
    _, test = _data()
    x = TopBottomViews().prepare(test.images).flatten(1)
    with torch.no_grad():
        record.summary["reconstruction_error"] = float((flow.inverse(flow(x)) - x).abs().max())
        log_det = flow.log_det_jacobian(x)
    record.summary["max_abs_log_det"] = float(log_det.abs().max())
    record.summary["log_det_min"], record.summary["log_det_max"] = float(log_det.min()), float(log_det.max())


def _bijective_checks(method: InfoMax, record) -> None:
    _flow_checks(method.g1[1], record)


def evidence1(variant: str, seed: int) -> Setup:
    """Bijective encoders (30 additive couplings of 512-512, init std 1e-4), bilinear critic."""
    if variant not in ("infonce", "nwj"):
        raise ValueError(f"variant must be 'infonce' or 'nwj'; got {variant!r}")
    torch.manual_seed(seed)
    sizes = SIZES["full"]
    method = InfoMax(flow_encoder(sizes.flow_layers, sizes.flow_hidden, seed=2 * seed),
                     flow_encoder(sizes.flow_layers, sizes.flow_hidden, seed=2 * seed + 1),
                     make_critic("bilinear", HALF_DIM), variant)
    info = {"encoders": f"{sizes.flow_layers} additive couplings, MLPs {list(sizes.flow_hidden)}, init std 1e-4",
            "critic": "bilinear"}
    return _setup(method, seed, STEPS["evidence1"], info, _bijective_checks)


#: The critics of the paper's figure 3, by the chapter's names: (kind, hidden width).
CRITICS = {"bilinear": ("bilinear", 100), "separable": ("separable", 100), "concat": ("concat", 200)}


def critics(variant: str, seed: int) -> Setup:
    """The paper's MLP encoders (392-300-300-100) with one of three critics, trained with InfoNCE."""
    if variant not in CRITICS:
        raise ValueError(f"variant must be one of {sorted(CRITICS)}; got {variant!r}")
    kind, hidden = CRITICS[variant]
    torch.manual_seed(seed)
    method = InfoMax(mlp_encoder(), mlp_encoder(), make_critic(kind, 100, hidden_dim=hidden), "infonce")
    info = {"encoders": "MLP 392-300-300-100", "critic": f"{kind}, hidden {hidden}", "bound": "infonce"}
    return _setup(method, seed, STEPS["critics"], info)


ENCODER_VARIANTS = tuple(f"{name}-t{t:g}" for t in TARGETS for name in ("ConvNet", "MLP"))


def encoders(variant: str, seed: int) -> Setup:
    """A ConvNet or an MLP encoder trained to ``|I_NCE - t| -> 0`` with a bilinear critic (figure 4)."""
    if variant not in ENCODER_VARIANTS:
        raise ValueError(f"variant must be one of {ENCODER_VARIANTS}; got {variant!r}")
    name, target = variant.split("-t")
    torch.manual_seed(seed)
    make = (lambda: conv_encoder(SIZES["full"].conv_channels, 100)) if name == "ConvNet" else mlp_encoder
    method = InfoMax(make(), make(), make_critic("bilinear", 100), "infonce", target=float(target))
    info = {"encoders": "ConvNet (64 channels)" if name == "ConvNet" else "MLP 392-300-300-100",
            "critic": "bilinear", "target": float(target)}
    return _setup(method, seed, STEPS["encoders"], info)


_PROTOCOL = __doc__.split("\n\n", 1)[1].strip()

register(Experiment(
    name="ch05/evidence1",
    title="Bijective encoders trained with InfoNCE and NWJ (the paper's figure 1a, b)",
    protocol=_PROTOCOL, variants=("infonce", "nwj"), setup=evidence1,
))
register(Experiment(
    name="ch05/critics",
    title="Critics of growing capacity on MLP encoders (figure 3)",
    protocol=_PROTOCOL, variants=tuple(CRITICS), setup=critics,
))
register(Experiment(
    name="ch05/encoders",
    title="ConvNet and MLP encoders trained to the same InfoNCE target (figure 4)",
    protocol=_PROTOCOL, variants=ENCODER_VARIANTS, setup=encoders,
))


def adversarial(variant: str, seed: int) -> Setup:
    """The bijective encoder (30 affine couplings of 512-512) trained against a linear classifier (figure 1c)."""
    if variant != "affine-flow":
        raise ValueError(f"variant must be 'affine-flow'; got {variant!r}")
    train, test = _data()
    sizes = SIZES["full"]
    torch.manual_seed(seed)
    encoder = flow_encoder(sizes.flow_layers, sizes.flow_hidden, affine=True, seed=seed)
    # The settings as train_adversarial takes them (its encoder steps as "encoder_steps"); "steps" is
    # the record's length: the classifier's warm-up and the encoder steps.
    settings = {"encoder_steps": STEPS["adversarial"], "batch_size": sizes.batch_size, "lr": sizes.adversarial_lr,
                "encoder_lr": sizes.adversarial_encoder_lr, "classifier_steps": sizes.adversarial_classifier_steps,
                "warmup_steps": sizes.adversarial_warmup, "evals": 2, "seed": seed, "probe_C": PAPER_C,
                "probe_scaling": "minmax", "probe_Cs": [c for c in PROBE_CS if c != PAPER_C]}
    config = {**settings, "steps": sizes.adversarial_warmup + STEPS["adversarial"]}

    def run_game(until=None, progress=False, checkpoint_dir=None, checkpoint_every=0, resume=False):
        kwargs = {k: v for k, v in settings.items() if k != "encoder_steps"}
        return train_adversarial(encoder, train, train, test, steps=settings["encoder_steps"], until=until,
                                 progress=progress, checkpoint_dir=checkpoint_dir,
                                 checkpoint_every=checkpoint_every, resume=resume, **kwargs)

    def finish(method, record) -> None:
        _flow_checks(method[1], record)

    info = {"data": "mnist-train (60000) top halves with their labels", "evaluation": PROBE,
            "encoder": f"{sizes.flow_layers} affine couplings, MLPs {list(sizes.flow_hidden)}, init std 1e-4",
            "adversary": "linear classifier on the encoding"}
    return Setup(encoder, train, TopBottomViews(), config, info=info, finish=finish, train=run_game,
                 curve="classifier_loss")


register(Experiment(
    name="ch05/adversarial",
    title="A bijective encoder trained against a linear classifier (the paper's figure 1c)",
    protocol=_PROTOCOL, variants=("affine-flow",), setup=adversarial,
))
