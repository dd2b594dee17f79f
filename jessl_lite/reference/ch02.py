"""Chapter 2's reference runs: Poole et al.'s staircase at their settings, 3 seeds.

Poole, Ozair, van den Oord, Alemi & Tucker (ICML 2019, figure 2) train critics on
20-dimensional correlated Gaussians whose true mutual information steps through 2, 4, 6, 8
and 10 nats, 4000 steps per stair, a fresh batch of 64 pairs at every step, Adam at 5e-4, and
plot the estimates smoothed by an exponential moving average (span 200). Their critics: the
separable one (two MLPs of two hidden layers of 256 units, embedding 32, scored by a dot
product) and the concatenation one (one MLP of two hidden layers of 256 units on every pair).
Here: the same data, steps, batch, optimizer and critics, for the NWJ, InfoNCE and DV bounds
with the separable critic and NWJ and InfoNCE with the concatenation critic, whose 4096 pairs a
step make it about nine times slower (about 30 ms a step against 3.5 ms, one thread; the paper
also trains JS and DV with both, left out to keep each experiment within an hour of one CPU
core), each critic and bound trained separately, 3 seeds (the
seed draws both the critic's initial weights and the batches). Each record keeps, besides the
subsampled raw estimates, the mean and spread of the raw estimates over the second half of
each stair and the smoothed curve, computed from all 20,000 steps.
"""

from __future__ import annotations

import numpy as np
import torch

from ..bounds import (
    BoundObjective,
    ConcatCritic,
    GaussianStaircase,
    SeparableCritic,
    dv_bound,
    exponential_moving_average,
    infonce_bound,
    nwj_bound,
)
from ..train import FitConfig
from . import Experiment, Setup, register

#: Poole et al.'s staircase: d = 20, K = 64, 2..10 nats, 4000 steps per stair.
STAIRS = GaussianStaircase(dim=20, batch_size=64, levels=(2.0, 4.0, 6.0, 8.0, 10.0), steps_per_level=4000)

#: The critics' sizes (the paper's code: two hidden layers of 256 units, separable embedding 32).
HIDDEN_DIM, EMBED_DIM = 256, 32

#: The smoothing of the paper's plots.
EMA_SPAN = 200

BOUNDS = {"infonce": infonce_bound, "nwj": nwj_bound, "dv": dv_bound}
CRITICS = ("separable", "concat")

#: The variants of each of the two experiments: the concatenation critic runs its MLP on all
#: 64 x 64 pairs (about nine times the separable critic's time per step), so it is trained with
#: the two bounds the chapter interprets, to keep its 3 seeds within the hour.
VARIANTS = {"separable": tuple(f"separable-{bound}" for bound in BOUNDS),
            "concat": ("concat-infonce", "concat-nwj")}

#: Points of the smoothed curve kept in a record (every ``STAIRS.steps // SMOOTH_POINTS``-th step).
SMOOTH_POINTS = 500

# Poole et al.'s optimizer: Adam at 5e-4, constant, no weight decay; float32 scores; a step whose
# NWJ or DV exponential overflows is skipped (counted in the record) instead of stopping the run.
CONFIG = FitConfig(steps=STAIRS.steps, optimizer="adam", lr=5e-4, lr_schedule="constant", weight_decay=0.0,
                   precision="fp32", on_nonfinite="skip", log_every=1, eval_every=0, progress=True)


def make_critic(name: str) -> torch.nn.Module:
    """The critic ``name`` (``"separable"`` or ``"concat"``) at the paper's sizes (seed torch first)."""
    if name == "separable":
        return SeparableCritic(STAIRS.dim, STAIRS.dim, hidden_dim=HIDDEN_DIM, embed_dim=EMBED_DIM)
    if name == "concat":
        return ConcatCritic(STAIRS.dim, STAIRS.dim, hidden_dim=HIDDEN_DIM)
    raise ValueError(f"critic must be one of {CRITICS}; got {name!r}")


def stair_summary(estimates: np.ndarray) -> dict[str, list[float]]:
    """Mean and standard deviation of the finite raw estimates over the second half of each stair."""
    per_stair = np.asarray(estimates, dtype=np.float64).reshape(len(STAIRS.levels), STAIRS.steps_per_level)
    late = per_stair[:, STAIRS.steps_per_level // 2:]
    means, stds = [], []
    for row in late:
        row = row[np.isfinite(row)]
        means.append(float(row.mean()))
        stds.append(float(row.std()))
    return {"stair_mean": means, "stair_std": stds}


def _finish(method, record) -> None:
    steps, estimates = record.curve("bound")
    if len(steps) != STAIRS.steps:
        raise RuntimeError(f"the staircase record must hold every step's estimate; it holds {len(steps)}")
    record.summary.update(stair_summary(estimates))
    smooth = exponential_moving_average(torch.from_numpy(estimates), EMA_SPAN).numpy()
    every = STAIRS.steps // SMOOTH_POINTS
    record.summary["smooth_every"] = every
    record.summary["smooth"] = [float(v) for v in smooth[every - 1::every]]


def setup(variant: str, seed: int) -> Setup:
    known = VARIANTS["separable"] + VARIANTS["concat"]
    if variant not in known:
        raise ValueError(f"variant must be one of {known}; got {variant!r}")
    critic, bound = variant.split("-")
    torch.manual_seed(seed)
    objective = BoundObjective(make_critic(critic), BOUNDS[bound])
    info = {"data": f"correlated Gaussians, d={STAIRS.dim}, K={STAIRS.batch_size}, levels {list(STAIRS.levels)} "
            f"nats, {STAIRS.steps_per_level} steps each, fresh batches",
            "critic": critic, "hidden_dim": HIDDEN_DIM, "bound": bound,
            "evaluation": f"raw estimates on the training batches; per-stair mean and std over each stair's "
                          f"second half; EMA span {EMA_SPAN}"}
    if critic == "separable":
        info["embed_dim"] = EMBED_DIM
    return Setup(objective, STAIRS.sample, None, CONFIG.replace(seed=seed), (), info, _finish)


_PROTOCOL = __doc__.split("\n\n", 1)[1].strip()

register(Experiment(
    name="ch02/separable",
    title="Poole et al.'s staircase with the separable critic: InfoNCE, NWJ and DV",
    protocol=_PROTOCOL, variants=VARIANTS["separable"], setup=setup,
))
register(Experiment(
    name="ch02/concat",
    title="Poole et al.'s staircase with the concatenation critic: InfoNCE and NWJ",
    protocol=_PROTOCOL, variants=VARIANTS["concat"], setup=setup,
))
