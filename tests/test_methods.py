"""jessl_lite.losses and jessl_lite.methods (SimSiam): values by hand, stop-gradient against an
independent computation, and the interface the fit loop relies on."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from jessl_lite.losses import negative_cosine_similarity
from jessl_lite.methods import SimSiam, make_method
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
    # Without stop-gradient the target branch adds gradient: the backbone's gradient changes.
    free = _tiny_simsiam(stop_gradient=False)
    free_loss, _ = free.loss(x1, x2)
    free_grad = torch.autograd.grad(free_loss, next(free.backbone.parameters()))[0]
    assert not torch.allclose(free_grad, grads[0])


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
    with pytest.raises(ValueError, match="p and z"):
        negative_cosine_similarity(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(TypeError, match="backbone"):
        SimSiam("resnet")
    with pytest.raises(ValueError, match="out_dim"):
        SimSiam(torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="name"):
        make_method("dino", MLP(4, [], 2))
