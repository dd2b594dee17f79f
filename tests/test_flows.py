"""Bijective encoders (chapter 5): exact inverse, exact log-determinant, MI invariance."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jessl_lite.flows import BijectiveEncoder, CouplingLayer
from jessl_lite.info import correlated_gaussian_mi, gaussian_mutual_information, mutual_information


def numerical_log_det(g: BijectiveEncoder, x: torch.Tensor) -> torch.Tensor:
    """log|det J| of every row of x from autograd's full Jacobian (an independent reference)."""
    out = []
    for row in x:
        jac = torch.autograd.functional.jacobian(lambda v: g(v[None])[0], row)
        out.append(torch.linalg.slogdet(jac).logabsdet)
    return torch.stack(out)


# --- inverse ------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    dim=st.integers(2, 9),
    layers=st.integers(1, 5),
    affine=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_inverse_undoes_forward_far_from_the_identity(dim, layers, affine, seed):
    torch.manual_seed(seed)
    g = BijectiveEncoder(dim, layers, (16, 16), affine=affine, init_std=0.5, seed=seed).double()
    x = 3 * torch.randn(32, dim, dtype=torch.float64)
    y = g(x)
    assert (y - x).abs().max() > 1e-3, "the test needs a flow that is far from the identity"
    # Affine layers can stretch values to ~1e3: compare relative to the largest one.
    tol = 1e-11 * (1.0 + float(y.detach().abs().max()))
    torch.testing.assert_close(g.inverse(y), x, rtol=0, atol=tol)
    torch.testing.assert_close(g(g.inverse(x)), x, rtol=0, atol=tol)


@pytest.mark.parametrize("affine", [False, True])
def test_inverse_in_float32_on_mnist_sized_halves(affine):
    torch.manual_seed(0)
    g = BijectiveEncoder(392, 6, (64,), affine=affine, init_std=0.05)
    x = torch.rand(64, 392)
    y = g(x)
    assert (y - x).abs().max() > 0.01
    torch.testing.assert_close(g.inverse(y), x, rtol=0, atol=1e-5)


def test_the_papers_encoder_starts_as_the_identity():
    # 30 layers of 512-512 MLPs with weights of std 1e-4: three small factors per shift, ~1e-8.
    torch.manual_seed(0)
    g = BijectiveEncoder(392, 30, (512, 512)).double()
    x = torch.rand(16, 392, dtype=torch.float64)
    assert (g(x) - x).abs().max() < 1e-7
    wide = BijectiveEncoder(392, 30, (512, 512), init_std=0.05).double()
    assert (wide(x) - x).abs().max() > 0.1, "a larger init std is far from the identity"


def test_a_layer_with_zero_weights_only_permutes():
    perm = torch.tensor([3, 0, 4, 1, 2])
    layer = CouplingLayer(5, (8,), init_std=0.0, permutation=perm)
    x = torch.randn(4, 5)
    torch.testing.assert_close(layer(x), x[:, perm], rtol=0, atol=0)
    torch.testing.assert_close(layer.inverse(layer(x)), x, rtol=0, atol=0)


# --- log-determinant ------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 5, 8])
def test_affine_log_det_matches_the_numerical_jacobian(dim):
    torch.manual_seed(dim)
    g = BijectiveEncoder(dim, 4, (12,), affine=True, init_std=0.7, seed=dim).double()
    x = torch.randn(6, dim, dtype=torch.float64)
    expected = numerical_log_det(g, x)
    assert expected.abs().max() > 0.1, "the test needs a flow that changes volume"
    torch.testing.assert_close(g.log_det_jacobian(x), expected, rtol=0, atol=1e-10)


def test_affine_log_det_is_the_sum_over_layers():
    torch.manual_seed(1)
    g = BijectiveEncoder(6, 3, (8,), affine=True, init_std=0.5).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    total, h = torch.zeros(5, dtype=torch.float64), x
    for layer in g.layers:
        total = total + numerical_log_det(layer, h)
        h = layer(h)
    torch.testing.assert_close(g.log_det_jacobian(x), total, rtol=0, atol=1e-10)


def test_shift_only_layers_have_log_det_exactly_zero_and_preserve_volume():
    torch.manual_seed(2)
    g = BijectiveEncoder(7, 5, (16,), init_std=0.8).double()
    x = torch.randn(6, 7, dtype=torch.float64)
    log_det = g.log_det_jacobian(x)
    assert torch.equal(log_det, torch.zeros(6, dtype=torch.float64))
    # The independent check: the Jacobian's determinant is +-1 although the map is far from linear.
    torch.testing.assert_close(numerical_log_det(g, x), torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-10)
    jac0 = torch.autograd.functional.jacobian(lambda v: g(v[None])[0], x[0])
    jac1 = torch.autograd.functional.jacobian(lambda v: g(v[None])[0], x[1])
    assert (jac0 - jac1).abs().max() > 1e-2, "the Jacobian should vary from point to point"


# --- mutual information is unchanged --------------------------------------------------------------


def test_mi_of_a_discrete_source_survives_a_bijective_encoding():
    # X takes 6 values (points of R^4), Y is a label; p(x, y) is a 6 x 3 table.
    gen = torch.Generator().manual_seed(3)
    points = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    p_xy = torch.rand(6, 3, generator=gen, dtype=torch.float64) ** 3
    p_xy /= p_xy.sum()
    torch.manual_seed(3)
    g = BijectiveEncoder(4, 6, (16,), affine=True, init_std=0.6).double()

    def mi_after(encode) -> float:
        codes = encode(points).detach()
        # Group equal codes: the table of (g(X), Y) merges the rows of x values that collide.
        _, index = torch.unique(torch.round(codes, decimals=8), dim=0, return_inverse=True)
        table = torch.zeros(int(index.max()) + 1, 3, dtype=torch.float64).index_add_(0, index, p_xy)
        return float(mutual_information(table))

    before = float(mutual_information(p_xy))
    assert mi_after(g) == pytest.approx(before, abs=1e-12)
    assert (g(points) - points).abs().max() > 0.1
    # A map that is not injective (it merges two of the six points) loses information: the
    # comparison above can fail.
    assert mi_after(lambda x: torch.where(torch.arange(6)[:, None] == 1, x[0], x)) < before - 1e-3


def test_mi_of_correlated_gaussians_survives_a_linear_coupling_flow():
    # With linear conditioners (no hidden layer) an additive flow is an affine map x -> A x + c,
    # so (g(X), Y) is Gaussian and its MI has a closed form (chapter 1).
    dim, rho = 3, 0.8
    torch.manual_seed(4)
    g = BijectiveEncoder(dim, 4, (), init_std=0.9, seed=4).double()
    a = torch.autograd.functional.jacobian(lambda v: g(v[None])[0], torch.zeros(dim, dtype=torch.float64))
    assert (a - torch.eye(dim, dtype=torch.float64)).abs().max() > 0.1
    eye = torch.eye(dim, dtype=torch.float64)
    cov = torch.cat([torch.cat([eye, rho * eye], 1), torch.cat([rho * eye, eye], 1)], 0)
    top = torch.cat([a @ a.T, rho * a], 1)
    cov_encoded = torch.cat([top, torch.cat([rho * a.T, eye], 1)], 0)
    mi = float(gaussian_mutual_information(cov, dim))
    assert mi == pytest.approx(float(correlated_gaussian_mi(rho, dim)), rel=1e-12)
    assert float(gaussian_mutual_information(cov_encoded, dim)) == pytest.approx(mi, rel=1e-9)
    # The additive flow's matrix has determinant +-1 (volume-preserving), an exact identity.
    assert abs(float(torch.linalg.det(a))) == pytest.approx(1.0, abs=1e-12)


def test_the_linear_flow_matches_sampled_correlations():
    # The same affine map, checked on samples: corr(g(X)_k, Y) is what A predicts.
    dim, rho = 3, 0.8
    torch.manual_seed(4)
    g = BijectiveEncoder(dim, 4, (), init_std=0.9, seed=4).double()
    a = torch.autograd.functional.jacobian(lambda v: g(v[None])[0], torch.zeros(dim, dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, dim, generator=gen, dtype=torch.float64)
    y = rho * x + math.sqrt(1 - rho**2) * torch.randn(200_000, dim, generator=gen, dtype=torch.float64)
    z = g(x).detach()
    cross = (z - z.mean(0)).T @ (y - y.mean(0)) / (len(x) - 1)
    torch.testing.assert_close(cross, rho * a, rtol=0, atol=0.02)


# --- input checks ----------------------------------------------------------------------------------


def test_bad_inputs_name_the_argument():
    g = BijectiveEncoder(4, 2, (8,))
    with pytest.raises(ValueError, match="x must have shape"):
        g(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="x must have shape"):
        g(torch.zeros(1, 1, 2, 2))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        g([[0.0] * 4])
    with pytest.raises(TypeError, match="x must be a floating-point"):
        g(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="y must have shape"):
        g.inverse(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="dim"):
        BijectiveEncoder(1)
    with pytest.raises(ValueError, match="num_layers"):
        BijectiveEncoder(4, 0)
    with pytest.raises(TypeError, match="hidden_dims"):
        BijectiveEncoder(4, 2, 64)
    with pytest.raises(ValueError, match="hidden_dims"):
        BijectiveEncoder(4, 2, (0,))
    with pytest.raises(ValueError, match="init_std"):
        BijectiveEncoder(4, 2, init_std=-1.0)
    with pytest.raises(TypeError, match="affine"):
        CouplingLayer(4, affine="yes")
    with pytest.raises(ValueError, match="permutation"):
        CouplingLayer(4, permutation=torch.tensor([0, 1, 1, 2]))
    with pytest.raises(ValueError, match="max_log_scale"):
        CouplingLayer(4, affine=True, max_log_scale=0.0)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: CouplingLayer(4, permutation=torch.tensor([0.0, 1.5, 2.0, 3.0])), TypeError, "integer tensor"),
        (lambda: CouplingLayer(4, permutation=[0, 1, 2, 3]), TypeError, "permutation must be a torch.Tensor"),
        (lambda: CouplingLayer(4, permutation=torch.arange(3)), ValueError, r"permutation must have shape \(4,\)"),
        (lambda: CouplingLayer(4, init_std=math.nan), ValueError, "init_std must be a finite number >= 0"),
        (lambda: CouplingLayer(4, affine=True, max_log_scale=math.nan), ValueError, "max_log_scale"),
        (lambda: CouplingLayer(4, affine=None), TypeError, "affine must be True or False"),
        (lambda: CouplingLayer(4, hidden_dims="64"), TypeError, "hidden_dims must be a sequence"),
        (lambda: CouplingLayer(4, hidden_dims=(8, 2.5)), TypeError, r"hidden_dims\[1\]"),
        (lambda: BijectiveEncoder(4.0), TypeError, "dim must be an int"),
        (lambda: BijectiveEncoder(4, True), TypeError, "num_layers"),
        (lambda: BijectiveEncoder(4, 2, seed=-1), ValueError, "seed"),
    ],
)
def test_bad_constructor_arguments_name_themselves(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_an_input_on_another_device_is_named_before_torch_fails():
    g = BijectiveEncoder(4, 2, (8,))
    meta = torch.empty(3, 4, device="meta")  # a device that is not the encoder's, and needs no GPU
    for call in (g, g.inverse, g.log_det_jacobian, g.layers[0], g.layers[0].inverse):
        with pytest.raises(ValueError, match="is on meta but the encoder is on cpu"):
            call(meta)
