"""Chapter 4's collapse experiments: SimSiam/BYOL ablations and the collapse diagnostics."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jessl_lite.data import load_mnist
from jessl_lite.experiments.collapse import (
    collapse_diagnostics,
    collapse_monitor,
    covariance_spectrum,
    projector_output,
    simsiam_variant,
    track_collapse,
)
from jessl_lite.methods import BYOL, SimSiam
from jessl_lite.nets import MLP
from jessl_lite.runs import Run
from jessl_lite.train import FitConfig
from jessl_lite.views import mnist_views

# The chapter's thresholds on the projector output of held-out digits (std_ratio = std * sqrt(D)).
COLLAPSED_STD_RATIO, HEALTHY_STD_RATIO = 0.5, 0.8


def test_diagnostics_of_isotropic_collapsed_and_batchnormed_line():
    g = torch.Generator().manual_seed(0)
    healthy = collapse_diagnostics(torch.randn(4000, 32, generator=g))
    assert healthy["std_ratio"] == pytest.approx(1.0, abs=0.02)
    assert healthy["uniformity"] < -3.5
    point = collapse_diagnostics(torch.ones(500, 32) + 1e-9 * torch.randn(500, 32, generator=g))
    assert point["std_of_normalized"] < 1e-6 and point["effective_rank"] == pytest.approx(1.0, abs=1e-3)
    assert point["uniformity"] == pytest.approx(0.0, abs=1e-6)
    # Embeddings on a line, then a BatchNorm: every dimension has unit variance, the std looks healthy.
    line = torch.randn(2000, 1, generator=g) * torch.randn(1, 32, generator=g) + 3.0
    bn = nn.BatchNorm1d(32, affine=False)(line).detach()
    assert bn.std(dim=0).min() > 0.99
    line_diag = collapse_diagnostics(bn)
    assert line_diag["std_ratio"] == pytest.approx(1.0, abs=0.02)
    assert line_diag["effective_rank"] == pytest.approx(1.0, abs=1e-3)
    # Two antipodal points half the time: log(1/2 + 1/2 exp(-8)) up to the 1/(N-1) diagonal correction.
    assert line_diag["uniformity"] == pytest.approx(math.log(0.5 + 0.5 * math.exp(-8)), abs=0.02)


def test_covariance_spectrum_sums_to_one_minus_squared_mean():
    z = torch.randn(300, 8, dtype=torch.float64) + 0.5
    u = F.normalize(z, dim=1)
    spectrum = covariance_spectrum(z)
    assert float(spectrum.sum()) == pytest.approx(1 - float(u.mean(0).pow(2).sum()), abs=1e-12)
    assert bool((spectrum[:-1] >= spectrum[1:]).all())


def test_simsiam_variants_are_built_as_named():
    kw = {"dim": 8, "pred_dim": 4, "proj_layers": 2}
    assert isinstance(simsiam_variant("no_predictor", MLP(16, [8], 8), **kw).predictor, nn.Identity)
    assert not simsiam_variant("no_stop_gradient", MLP(16, [8], 8), **kw).stop_gradient
    frozen = simsiam_variant("fixed_random_predictor", MLP(16, [8], 8), **kw)
    before = [p.clone() for p in frozen.predictor.parameters()]
    loss, _ = frozen(torch.randn(10, 16), torch.randn(10, 16))
    loss.backward()
    assert all(p.grad is None for p in frozen.predictor.parameters())
    assert all(p.grad is not None for p in frozen.projector.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, frozen.predictor.parameters(), strict=True))
    with pytest.raises(ValueError, match="variant"):
        simsiam_variant("no_projector", MLP(16, [8], 8), **kw)
    with pytest.raises(ValueError, match="predictor_mode"):
        SimSiam(MLP(16, [8], 8), predictor_mode="none", **kw)


@pytest.mark.parametrize("decay", [0.0, 0.5, 1.0])
def test_constant_decay_byol_moves_the_target_by_the_ema(decay):
    torch.manual_seed(0)
    method = BYOL(MLP(16, [8], 8), MLP(8, [8], 4), MLP(4, [8], 4), ema_decay=decay)
    target0 = [p.clone() for p in method.target_backbone.parameters()]
    with torch.no_grad():
        for p in method.backbone.parameters():
            p.add_(1.0)
    method.loss(torch.randn(6, 16), torch.randn(6, 16))
    for t0, t, o in zip(target0, method.target_backbone.parameters(), method.backbone.parameters(), strict=True):
        torch.testing.assert_close(t, decay * t0 + (1 - decay) * o)
    assert method.target_pairs() == []
    # Evaluation-mode losses leave the target alone.
    before = [p.clone() for p in method.target_backbone.parameters()]
    method.eval()
    method.loss(torch.randn(6, 16), torch.randn(6, 16))
    assert all(torch.equal(a, b) for a, b in zip(before, method.target_backbone.parameters(), strict=True))
    with pytest.raises(ValueError, match="ema_decay"):
        BYOL(MLP(16, [8], 8), ema_decay=1.5)
    # Without ema_decay, fit moves the target with BYOL's schedule, as before.
    assert len(BYOL(MLP(16, [8], 8), dim=4, hidden_dim=8, pred_dim=8).target_pairs()) == 2


def test_collapse_monitor_measures_the_projector_output_and_checks_its_inputs():
    torch.manual_seed(0)
    method = simsiam_variant("simsiam", MLP(784, [32], 16), dim=8, pred_dim=4, proj_layers=2)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    views = mnist_views()
    values = collapse_monitor(images, views)(method, 0)
    assert values == collapse_diagnostics(projector_output(method, images, views))
    # The projector output, not the backbone's features: D is the projector's 8 dimensions.
    assert values["std_ratio"] == pytest.approx(values["std_of_normalized"] * math.sqrt(8))
    with pytest.raises(ValueError, match="images"):
        collapse_monitor(images[:1], views)
    with pytest.raises(TypeError, match="prepare"):
        collapse_monitor(images, object())
    with pytest.raises(TypeError, match="^images must be a torch.Tensor"):
        collapse_monitor(images.tolist(), views)
    with pytest.raises(TypeError, match="^method must have a backbone module"):
        projector_output(nn.Sequential(), images, views)


def test_diagnostics_refuse_non_finite_embeddings():
    z = torch.randn(16, 4)
    z[2, 1] = math.nan
    # effective_rank and the spectrum would stop inside the eigensolver (or return NaN).
    for diagnostic in (collapse_diagnostics, covariance_spectrum):
        with pytest.raises(ValueError, match="^z must be finite; it holds 1 NaN"):
            diagnostic(z)
        with pytest.raises(TypeError, match="^z must be a floating-point tensor"):
            diagnostic(torch.ones(16, 4, dtype=torch.long))
        with pytest.raises(ValueError, match="N >= 2"):
            diagnostic(torch.randn(1, 4))


@pytest.fixture(scope="module")
def mnist_parts():
    data = load_mnist("test")
    return data.split([4096, 2000, 1000, len(data) - 7096], seed=0)[:3]


CONFIG = FitConfig(steps=150, eval_every=50, batch_size=128, lr=0.1, weight_decay=5e-4, progress=False, seed=0)


def _run(variant, parts):
    train, memory, queries = parts
    torch.manual_seed(0)
    method = simsiam_variant(variant, MLP(784, [256], 128), dim=64, pred_dim=16, proj_layers=2)
    return track_collapse(method, train, mnist_views(), memory, queries, CONFIG, info={"variant": variant})


def test_without_stop_gradient_simsiam_collapses_and_with_it_stays_healthy(mnist_parts):
    healthy, collapsed = _run("simsiam", mnist_parts), _run("no_stop_gradient", mnist_parts)
    assert isinstance(healthy, Run) and healthy.info["variant"] == "simsiam"
    assert healthy.metric("std_ratio")[0].tolist() == [0, 50, 100, 150]
    assert healthy.metric("knn")[0].tolist() == [0, 150]  # kNN only before training and at the end
    assert healthy.steps == 150 and healthy.config["schedule"]["lr"] == 0.1
    assert healthy.final("std_ratio") > HEALTHY_STD_RATIO
    assert collapsed.final("std_ratio") < COLLAPSED_STD_RATIO
    assert collapsed.final("effective_rank") < 0.5 * healthy.final("effective_rank")
    assert collapsed.final("uniformity") > healthy.final("uniformity") + 1.0
    # Both runs start from the same weights, so they are measured identically before training.
    assert collapsed.metric("effective_rank")[1][0] == healthy.metric("effective_rank")[1][0]
    # The final spectrum sums to 1 - |mean u|^2 <= 1 and has D = 64 eigenvalues; it survives JSON.
    spectrum = Run.from_json(healthy.to_json()).summary["spectrum"]
    assert len(spectrum) == 64 and spectrum == sorted(spectrum, reverse=True)
    assert 0.5 < sum(spectrum) <= 1.0


def test_track_collapse_takes_a_fit_config(mnist_parts):
    train, memory, queries = mnist_parts
    method = simsiam_variant("simsiam", MLP(784, [16], 8), dim=8, pred_dim=4, proj_layers=2)
    with pytest.raises(TypeError, match="FitConfig"):
        track_collapse(method, train, mnist_views(), memory, queries, {"steps": 10, "lr": 0.1})
