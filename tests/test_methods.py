"""jessl_lite.losses and jessl_lite.methods (SimSiam): values by hand, stop-gradient against an
independent computation, and the interface the fit loop relies on."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from jessl_lite.evaluate import std_of_normalized
from jessl_lite.losses import negative_cosine_similarity, normalized_mse, nt_xent_loss, swav_loss, vicreg_loss
from jessl_lite.methods import BYOL, METHODS, BarlowTwins, SimCLR, SimSiam, SwAV, VICReg, ema_update, make_method
from jessl_lite.nets import MLP


def test_negative_cosine_on_aligned_opposite_and_orthogonal_pairs():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    assert negative_cosine_similarity(p, 5 * p).item() == pytest.approx(-1.0)
    assert negative_cosine_similarity(p, -p).item() == pytest.approx(1.0)
    assert negative_cosine_similarity(p[:2], p[:2].flip(1)).item() == pytest.approx(0.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.01, 100.0))
def test_negative_cosine_matches_torch_and_ignores_scale(seed, scale):
    g = torch.Generator().manual_seed(seed)
    p, z = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    expected = -F.cosine_similarity(p, z, dim=1).mean()
    torch.testing.assert_close(negative_cosine_similarity(p, z), expected)
    torch.testing.assert_close(negative_cosine_similarity(scale * p, z), expected, atol=1e-6, rtol=1e-5)


def _tiny_simsiam(stop_gradient: bool = True) -> SimSiam:
    torch.manual_seed(0)
    return SimSiam(MLP(12, [16], 8), dim=6, pred_dim=3, proj_layers=2, stop_gradient=stop_gradient)


def test_simsiam_gradient_is_that_of_the_formula_with_stop_gradient():
    x1, x2 = torch.randn(10, 12), torch.randn(10, 12)
    method = _tiny_simsiam()
    loss, logs = method.loss(x1, x2)
    grads = torch.autograd.grad(loss, list(method.parameters()), allow_unused=True)
    # Independent computation of 1/2 D(p1, sg(z2)) + 1/2 D(p2, sg(z1)) with torch's cosine.
    z1, z2 = method.projector(method.backbone(x1)), method.projector(method.backbone(x2))
    p1, p2 = method.predictor(z1), method.predictor(z2)
    manual = -0.5 * (F.cosine_similarity(p1, z2.detach()).mean() + F.cosine_similarity(p2, z1.detach()).mean())
    expected = torch.autograd.grad(manual, list(method.parameters()), allow_unused=True)
    torch.testing.assert_close(loss, manual)
    for a, b in zip(grads, expected, strict=True):
        torch.testing.assert_close(a, b)
    assert -1 <= logs["loss"] <= 1 and not logs["loss"].requires_grad
    torch.testing.assert_close(logs["std_of_normalized"], std_of_normalized(z1.detach()))
    # Without stop-gradient the target branch adds gradient: the backbone's gradient changes.
    free = _tiny_simsiam(stop_gradient=False)
    free_loss, _ = free.loss(x1, x2)
    free_grad = torch.autograd.grad(free_loss, next(free.backbone.parameters()))[0]
    assert not torch.allclose(free_grad, grads[0])


def test_simsiam_from_the_heads_equals_a_hand_built_stack_from_the_same_seed():
    # The paper's layers written out with torch.nn, drawn in the order SimSiam builds them: backbone,
    # projector (Linear-BN-ReLU, then Linear-BN without affine; no biases), predictor (bottleneck).
    torch.manual_seed(0)
    backbone = MLP(12, [16], 8)
    projector = nn.Sequential(nn.Linear(8, 6, bias=False), nn.BatchNorm1d(6), nn.ReLU(),
                              nn.Linear(6, 6, bias=False), nn.BatchNorm1d(6, affine=False))
    predictor = nn.Sequential(nn.Linear(6, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 6))
    method = _tiny_simsiam()
    x1, x2 = torch.randn(10, 12), torch.randn(10, 12)
    z1, z2 = projector(backbone(x1)), projector(backbone(x2))
    p1, p2 = predictor(z1), predictor(z2)
    manual = -0.5 * (F.cosine_similarity(p1, z2.detach()).mean() + F.cosine_similarity(p2, z1.detach()).mean())
    hand = [p for m in (backbone, projector, predictor) for p in m.parameters()]
    assert [p.shape for p in method.parameters()] == [p.shape for p in hand]
    assert all(torch.equal(a, b) for a, b in zip(method.parameters(), hand, strict=True))  # bit for bit
    loss, _ = method.loss(x1, x2)
    torch.testing.assert_close(loss, manual)
    for a, b in zip(torch.autograd.grad(loss, list(method.parameters())), torch.autograd.grad(manual, hand),
                    strict=True):
        torch.testing.assert_close(a, b)


def test_simsiam_interface_used_by_the_fit_loop():
    method = _tiny_simsiam()
    assert method.target_pairs() == []
    groups = method.param_groups()
    assert groups[1]["fixed_lr"] is True and len(groups[1]["params"]) == len(list(method.predictor.parameters()))
    assert sum(len(g["params"]) for g in groups) == len(list(method.parameters()))
    assert method.embed(torch.randn(4, 12)).shape == (4, 8)
    loss, logs = method(torch.randn(4, 12), torch.randn(4, 12))  # forward is the loss (for DDP)
    assert set(logs) == {"loss", "std_of_normalized"}


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match=r"z must have the shape of p \(3, 2\); got \(3, 4\)"):
        negative_cosine_similarity(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(TypeError, match="backbone"):
        SimSiam("resnet")
    with pytest.raises(ValueError, match="out_dim"):
        SimSiam(torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="name"):
        make_method("dino", MLP(4, [], 2))
    with pytest.raises(ValueError, match="queue_length"):
        make_method("swav", MLP(4, [], 2), dim=2, queue_length=-1)
    for option in ("stop_gradient", "fixed_predictor_lr"):
        for bad in (None, 0, "yes"):
            with pytest.raises(TypeError, match=option):
                SimSiam(MLP(4, [], 2), dim=2, pred_dim=2, **{option: bad})


# --- the other five methods (chapter 3) -------------------------------------------------------------

ALL_METHODS = ["simclr", "swav", "byol", "simsiam", "barlow_twins", "vicreg"]


# Small heads, with the options each method takes (SimCLR has no predictor, SimSiam's projector width is dim).
SMALL = {
    "simclr": {"dim": 8, "hidden_dim": 16, "proj_layers": 2},
    "swav": {"dim": 8, "hidden_dim": 16, "proj_layers": 2, "num_prototypes": 5},
    "byol": {"dim": 8, "hidden_dim": 16, "pred_dim": 4, "proj_layers": 2},
    "simsiam": {"dim": 8, "pred_dim": 4, "proj_layers": 2},
    "barlow_twins": {"dim": 8, "hidden_dim": 16, "proj_layers": 2},
    "vicreg": {"dim": 8, "hidden_dim": 16, "proj_layers": 2},
}


def _small(name: str, backbone: torch.nn.Module | None = None, **kwargs):
    torch.manual_seed(0)
    return make_method(name, backbone if backbone is not None else MLP(12, [16], 8), **{**SMALL[name], **kwargs})


@pytest.mark.parametrize("name", ALL_METHODS)
def test_every_method_keeps_the_interface_of_the_fit_loop(name):
    method = _small(name)
    x1, x2 = torch.randn(6, 12), torch.randn(6, 12)
    loss, logs = method(x1, x2)
    assert loss.dim() == 0 and loss.requires_grad and torch.isfinite(loss)
    assert logs["loss"] == loss.detach() and all(v.dim() == 0 and not v.requires_grad for v in logs.values())
    assert "std_of_normalized" in logs
    assert method.embed(x1).shape == (6, 8)
    trained = {id(p) for g in method.param_groups() for p in g["params"]}
    assert trained == {id(p) for p in method.parameters() if p.requires_grad}
    loss.backward()
    assert all(p.grad is not None for g in method.param_groups() for p in g["params"])


class ConstantBackbone(torch.nn.Module):
    """A collapsed encoder: the same features for every image (but still a function of its weights)."""

    out_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Parameter(torch.linspace(-1, 1, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features.expand(x.shape[0], 8)


@pytest.mark.parametrize(
    ("name", "collapsed_value"),
    [("simclr", math.log(2 * 10 - 1)), ("swav", math.log(5)), ("barlow_twins", 8.0), ("vicreg", 25 * 0.99)],
)
def test_a_collapsed_encoder_gives_each_method_its_collapsed_loss(name, collapsed_value):
    # SimCLR: log(2N - 1) with N = 10; SwAV: log K with K = 5 prototypes (a constant embedding
    # scores every prototype alike only if they are alike, so the prototypes are made equal);
    # Barlow Twins: D = 8; VICReg: 25 (1 - sqrt(1e-4)).
    method = _small(name, ConstantBackbone())
    if name == "swav":
        with torch.no_grad():
            method.prototypes.weight.copy_(torch.ones(5, 8))
    loss, _ = method(torch.randn(10, 12), torch.randn(10, 12))
    assert float(loss.detach()) == pytest.approx(collapsed_value, rel=1e-5)


def test_simclr_logs_the_infonce_bound_of_its_batch():
    method = _small("simclr")
    x1, x2 = torch.randn(10, 12), torch.randn(10, 12)
    loss, logs = method.loss(x1, x2)
    z1, z2 = method.projector(method.backbone(x1)), method.projector(method.backbone(x2))
    torch.testing.assert_close(loss, nt_xent_loss(z1, z2, 0.5))
    assert float(logs["mi_lower_bound"]) == pytest.approx(math.log(19) - float(loss.detach()), abs=1e-6)


def test_byol_target_is_an_untrained_copy_moved_only_by_the_fit_loop():
    method = _small("byol")
    for online, target in method.target_pairs():
        for a, b in zip(online.parameters(), target.parameters(), strict=True):
            assert torch.equal(a, b) and not b.requires_grad
    x1, x2 = torch.randn(6, 12), torch.randn(6, 12)
    loss, _ = method.loss(x1, x2)
    z1, z2 = method.projector(method.backbone(x1)), method.projector(method.backbone(x2))
    expected = normalized_mse(method.predictor(z1), z2.detach()) + normalized_mse(method.predictor(z2), z1.detach())
    torch.testing.assert_close(loss, expected)  # the target equals the online network at the start
    assert 0 <= float(loss.detach()) <= 8
    loss.backward()
    assert all(p.grad is None for p in method.target_backbone.parameters())


def test_swav_normalizes_its_prototypes_and_fills_then_uses_its_queue():
    method = _small("swav", queue_length=12)
    with torch.no_grad():
        method.prototypes.weight.mul_(3.0)
    x1, x2 = torch.randn(6, 12), torch.randn(6, 12)
    loss, logs = method.loss(x1, x2)
    torch.testing.assert_close(method.prototypes.weight.norm(dim=1), torch.ones(5))
    z1 = F.normalize(method.projector(method.backbone(x1)), dim=1)
    z2 = F.normalize(method.projector(method.backbone(x2)), dim=1)
    torch.testing.assert_close(loss, swav_loss(method.prototypes(z1), method.prototypes(z2)))
    assert float(logs["queue_in_use"]) == 0.0
    torch.testing.assert_close(method.queue[0, :6], z1.detach())  # newest first
    method.loss(x1, x2)
    _, logs = method.loss(x1, x2)  # 12 rows queued: now the queue joins the Sinkhorn problem
    assert float(logs["queue_in_use"]) == 1.0 and int(method.queue_filled) == 18


def test_barlow_twins_and_vicreg_log_their_terms():
    x1, x2 = torch.randn(6, 12), torch.randn(6, 12)
    barlow = _small("barlow_twins")
    loss, logs = barlow.loss(x1, x2)
    assert float(logs["loss"]) == pytest.approx(float(logs["invariance"] + 5e-3 * logs["redundancy"]), rel=1e-6)
    vicreg = _small("vicreg")
    loss, logs = vicreg.loss(x1, x2)
    z1, z2 = vicreg.projector(vicreg.backbone(x1)), vicreg.projector(vicreg.backbone(x2))
    torch.testing.assert_close(loss, vicreg_loss(z1, z2))
    expected = 25 * logs["invariance"] + 25 * logs["variance"] + logs["covariance"]
    assert float(logs["loss"]) == pytest.approx(float(expected), rel=1e-6)


def test_make_method_rejects_an_option_the_method_does_not_take():
    assert sorted(METHODS) == sorted(ALL_METHODS) == sorted(SMALL)
    for name in ALL_METHODS:
        method = make_method(name, MLP(12, [16], 8), **SMALL[name])
        assert type(method).__name__.lower().replace("twins", "_twins") == name
    # SimSiam's projector is dim wide: it has no hidden_dim, and saying one is an error, not a no-op.
    with pytest.raises(ValueError, match=r"simsiam does not take hidden_dim; it accepts .*pred_dim.*stop_gradient"):
        make_method("simsiam", MLP(12, [16], 8), hidden_dim=4096)
    with pytest.raises(ValueError, match=r"simclr does not take pred_dim; it accepts projector, dim, hidden_dim"):
        make_method("simclr", MLP(12, [16], 8), dim=8, pred_dim=4)
    with pytest.raises(ValueError, match="vicreg does not take lambd, pred_dim;"):
        make_method("vicreg", MLP(12, [16], 8), pred_dim=4, lambd=0.1)
    with pytest.raises(ValueError, match="temprature"):
        make_method("simclr", MLP(12, [16], 8), temprature=0.5)
    with pytest.raises(ValueError, match="num_prototypes"):
        make_method("swav", MLP(12, [16], 8), num_prototypes=0)
    with pytest.raises(ValueError, match="proj_layers"):
        make_method("vicreg", MLP(12, [16], 8), proj_layers=0)


BACKBONE = MLP(12, [], 8)
HYPER_PARAMETERS = [  # (method, option, bad values): each refused at construction, naming the option
    (SimCLR, "temperature", (0.0, -1.0, math.nan, math.inf, True, "0.5")),
    (SwAV, "temperature", (0.0, math.nan, True)),
    (SwAV, "epsilon", (0.0, -0.05, math.inf)),
    (SwAV, "sinkhorn_iterations", (0, 2.0, True)),
    (SwAV, "num_prototypes", (0, True)),
    (BYOL, "ema_decay", (-0.1, 1.5, math.nan, True, "0.9")),
    (BarlowTwins, "lambd", (-1.0, math.nan, math.inf, True)),
    (VICReg, "sim_coeff", (-1.0, math.nan)),
    (VICReg, "std_coeff", (-25.0, math.inf)),
    (VICReg, "cov_coeff", (-1.0, True)),
    (SimSiam, "predictor_mode", ("random", None)),
]


@pytest.mark.parametrize(("cls", "option", "bads"), HYPER_PARAMETERS, ids=[f"{c.__name__}-{o}" for c, o, _ in
                                                                         HYPER_PARAMETERS])
def test_hyper_parameters_are_checked_at_construction(cls, option, bads):
    for bad in bads:
        with pytest.raises((TypeError, ValueError), match=f"^{option} must"):
            cls(BACKBONE, dim=4, **{option: bad})


@pytest.mark.parametrize("cls", [SimCLR, SwAV, BYOL, SimSiam, BarlowTwins, VICReg])
def test_sizes_are_named_as_the_method_takes_them(cls):
    # A head would call them in_dim/out_dim/hidden_dims; the method checks them under its own names.
    options = [p for p in ("dim", "hidden_dim", "pred_dim", "proj_layers") if p in cls.__init__.__code__.co_varnames]
    for option in options:
        for bad in (0, -2, True, 4.0):
            with pytest.raises((TypeError, ValueError), match=f"^{option} must be an int"):
                cls(BACKBONE, **{"dim": 4, option: bad})
    with pytest.raises(TypeError, match="^projector must be an nn.Module"):
        cls(BACKBONE, "mlp")


@pytest.mark.parametrize("cls", [SimCLR, SwAV, BYOL, SimSiam, BarlowTwins, VICReg])
def test_views_are_checked_on_metadata_only(cls):
    method = cls(BACKBONE, dim=4)
    x = torch.randn(6, 12)
    with pytest.raises(TypeError, match="^view1 must be a torch.Tensor"):
        method.loss(x.tolist(), x)
    with pytest.raises(ValueError, match=r"^view2 must have the shape of view1 \(6, 12\)"):
        method.loss(x, x[:5])
    with pytest.raises(TypeError, match="^view1 must be a floating-point tensor"):
        method.loss(x.long(), x.long())
    with pytest.raises(ValueError, match="^view1 must not be empty"):
        method.loss(x[:0], x[:0])
    with pytest.raises(TypeError, match="^x must be a torch.Tensor"):
        method.embed("images")


def test_ema_update_checks_its_arguments():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    for bad in (math.nan, -0.1, 1.1, True):
        with pytest.raises((TypeError, ValueError), match="^decay must be"):
            ema_update(a, b, bad)
    with pytest.raises(TypeError, match="^online must be an nn.Module"):
        ema_update(a, [b], 0.5)
