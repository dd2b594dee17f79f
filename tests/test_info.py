"""jessl_lite.info against closed forms, scipy, and identities that hold for every table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from jessl_lite import info

# --- closed forms --------------------------------------------------------------------------


def test_fair_coin_is_one_bit_and_log2_nats():
    assert float(info.entropy([0.5, 0.5], unit="bits")) == pytest.approx(1.0, abs=1e-15)
    assert float(info.entropy([0.5, 0.5])) == pytest.approx(math.log(2), abs=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3, 6, 10, 1000])
def test_uniform_has_entropy_log_n(n):
    assert float(info.entropy(torch.full((n,), 1.0 / n, dtype=torch.float64))) == pytest.approx(math.log(n), rel=1e-12)


def test_dyadic_distribution_has_whole_bit_surprises():
    p = [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 32]
    assert float(info.entropy(p, unit="bits")) == pytest.approx(1.9375, abs=1e-12)


def test_zero_probabilities_contribute_nothing():
    assert float(info.entropy([0.5, 0.0, 0.5, 0.0], unit="bits")) == pytest.approx(1.0, abs=1e-15)
    assert float(info.entropy([1.0, 0.0])) == 0.0


def test_copy_channel_shares_all_information():
    p = torch.diag(torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64))
    h = float(info.entropy([0.2, 0.3, 0.5]))
    assert float(info.mutual_information(p)) == pytest.approx(h, rel=1e-12)
    assert float(info.conditional_entropy(p, of=1, given=0)) == pytest.approx(0.0, abs=1e-15)


def test_binary_symmetric_channel_capacity_formula():
    # I(X;Y) for a uniform input through a BSC(eps) is 1 - H2(eps) bits (Cover & Thomas, 7.1.4).
    for eps in [0.0, 0.05, 0.11, 0.3, 0.5]:
        p = torch.tensor([[0.5 * (1 - eps), 0.5 * eps], [0.5 * eps, 0.5 * (1 - eps)]], dtype=torch.float64)
        h2 = float(stats.entropy([eps, 1 - eps], base=2))
        assert float(info.mutual_information(p, unit="bits")) == pytest.approx(1 - h2, abs=1e-12)


def test_xor_has_negative_co_information():
    p = torch.zeros(2, 2, 2, dtype=torch.float64)
    for x in (0, 1):
        for y in (0, 1):
            p[x, y, x ^ y] = 0.25
    assert float(info.mutual_information(p, a=0, b=1, unit="bits")) == pytest.approx(0.0, abs=1e-15)
    assert float(info.mutual_information(p, a=0, b=1, given=2, unit="bits")) == pytest.approx(1.0, abs=1e-12)
    assert float(info.mutual_information(p, a=(0, 1), b=2, unit="bits")) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("rho", [-0.9, -0.3, 0.0, 0.5, 0.99])
@pytest.mark.parametrize("dim", [1, 3, 20])
def test_correlated_gaussian_mi_closed_form(rho, dim):
    expected = -0.5 * dim * math.log(1 - rho**2)
    assert float(info.correlated_gaussian_mi(rho, dim)) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # The same number from the general block-covariance formula.
    cov = torch.eye(2 * dim, dtype=torch.float64)
    idx = torch.arange(dim)
    cov[idx, idx + dim] = rho
    cov[idx + dim, idx] = rho
    assert float(info.gaussian_mutual_information(cov, dim_x=dim)) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_correlated_gaussian_mi_per_coordinate_rhos_add():
    rhos = [0.1, 0.5, 0.9]
    expected = sum(-0.5 * math.log(1 - r**2) for r in rhos)
    assert float(info.correlated_gaussian_mi(rhos)) == pytest.approx(expected, rel=1e-12)
    assert float(info.correlated_gaussian_mi(0.5, 4, unit="bits")) == pytest.approx(
        -2 * math.log2(1 - 0.25), rel=1e-12
    )


def test_gaussian_entropy_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + 0.5 * np.eye(4)
    assert float(info.gaussian_entropy(cov)) == pytest.approx(
        stats.multivariate_normal(np.zeros(4), cov).entropy(), rel=1e-10
    )
    assert float(info.gaussian_entropy(0.01)) == pytest.approx(stats.norm(scale=0.1).entropy(), rel=1e-10)
    assert float(info.gaussian_entropy(0.01)) < 0  # differential entropy can be negative


def test_gaussian_entropy_shifts_by_log_det_under_linear_maps():
    cov = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=torch.float64)
    a = torch.tensor([[3.0, 1.0], [0.0, 0.5]], dtype=torch.float64)
    shifted = info.gaussian_entropy(a @ cov @ a.T) - info.gaussian_entropy(cov)
    assert float(shifted) == pytest.approx(math.log(abs(float(torch.linalg.det(a)))), rel=1e-12)


def test_gaussian_mi_invariant_under_invertible_linear_maps_of_each_block():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(5, 5))
    cov = torch.tensor(m @ m.T + np.eye(5), dtype=torch.float64)
    a = torch.tensor(rng.normal(size=(2, 2)) + 2 * np.eye(2), dtype=torch.float64)
    b = torch.tensor(rng.normal(size=(3, 3)) + 2 * np.eye(3), dtype=torch.float64)
    block = torch.block_diag(a, b)
    before = info.gaussian_mutual_information(cov, dim_x=2)
    after = info.gaussian_mutual_information(block @ cov @ block.T, dim_x=2)
    assert float(after) == pytest.approx(float(before), rel=1e-9)


def test_kl_matches_scipy_and_is_asymmetric():
    p, q = [0.7, 0.2, 0.1], [0.4, 0.4, 0.2]
    assert float(info.kl_divergence(p, q)) == pytest.approx(stats.entropy(p, q), rel=1e-12)
    assert float(info.kl_divergence(q, p)) == pytest.approx(stats.entropy(q, p), rel=1e-12)
    assert float(info.kl_divergence(p, q)) != pytest.approx(float(info.kl_divergence(q, p)))
    assert math.isinf(float(info.kl_divergence(p, [0.5, 0.5, 0.0])))
    assert float(info.kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5])) == pytest.approx(math.log(2), rel=1e-12)


def test_entropy_is_differentiable():
    logits = torch.randn(5, dtype=torch.float64, requires_grad=True)
    h = info.entropy(torch.softmax(logits, 0))
    h.backward()
    # dH/dlogits of a softmax: -p * (log p + H); a reference computed by hand.
    p = torch.softmax(logits.detach(), 0)
    expected = -p * (torch.log(p) + float(h.detach()))
    assert torch.allclose(logits.grad, expected, atol=1e-12)


# --- property tests on random tables ----------------------------------------------------------


def _normalize(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64) ** 3  # skew towards near-zero cells
    # Exact zeros, not 1e-212: a product of two such marginals underflows to 0 in float64,
    # which would turn KL(p || p_x p_y) into inf through rounding rather than mathematics.
    a[a < 1e-12] = 0.0
    return a / a.sum()


def random_table(ndim: int):
    return arrays(
        np.float64,
        st.tuples(*[st.integers(1, 4)] * ndim),
        elements=st.floats(0.0, 1.0, allow_nan=False),
    ).filter(lambda a: (a.astype(np.float64) ** 3).sum() > 1e-6).map(_normalize)


@settings(max_examples=150, deadline=None)
@given(random_table(2))
def test_chain_rule_symmetry_and_bounds(p):
    h_x = float(info.entropy(info.marginal(p, 0)))
    h_y = float(info.entropy(info.marginal(p, 1)))
    h_xy = float(info.joint_entropy(p))
    h_y_x = float(info.conditional_entropy(p, of=1, given=0))
    h_x_y = float(info.conditional_entropy(p, of=0, given=1))
    mi = float(info.mutual_information(p))
    assert h_xy == pytest.approx(h_x + h_y_x, abs=1e-12)  # chain rule
    assert h_xy == pytest.approx(h_y + h_x_y, abs=1e-12)
    assert mi == pytest.approx(float(info.mutual_information(p.T)), abs=1e-12)  # symmetry
    assert mi == pytest.approx(h_x - h_x_y, abs=1e-12)
    assert mi == pytest.approx(h_y - h_y_x, abs=1e-12)
    assert mi >= 0.0
    assert mi <= min(h_x, h_y) + 1e-12
    assert h_y_x <= h_y + 1e-12  # conditioning reduces entropy on average
    assert h_xy <= h_x + h_y + 1e-12
    product = np.outer(p.sum(1), p.sum(0))
    assert mi == pytest.approx(float(info.kl_divergence(p, product)), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(random_table(3))
def test_three_variable_chain_rule_for_mi(p):
    # I(X; (Y, Z)) = I(X; Y) + I(X; Z | Y)
    lhs = float(info.mutual_information(p, a=0, b=(1, 2)))
    rhs = float(info.mutual_information(p, a=0, b=1)) + float(info.mutual_information(p, a=0, b=2, given=1))
    assert lhs == pytest.approx(rhs, abs=1e-12)
    assert float(info.mutual_information(p, a=0, b=2, given=1)) >= 0.0


@settings(max_examples=100, deadline=None)
@given(random_table(1))
def test_entropy_matches_scipy_and_bounds(p):
    assert float(info.entropy(p)) == pytest.approx(stats.entropy(p), abs=1e-12)
    assert float(info.entropy(p, unit="bits")) == pytest.approx(stats.entropy(p, base=2), abs=1e-12)
    assert 0.0 <= float(info.entropy(p)) <= math.log(p.size) + 1e-12


@settings(max_examples=60, deadline=None)
@given(random_table(2), st.randoms(use_true_random=False))
def test_relabelling_values_changes_nothing(p, rnd):
    rows = list(range(p.shape[0]))
    cols = list(range(p.shape[1]))
    rnd.shuffle(rows)
    rnd.shuffle(cols)
    q = p[rows][:, cols]
    assert float(info.joint_entropy(q)) == pytest.approx(float(info.joint_entropy(p)), abs=1e-12)
    assert float(info.mutual_information(q)) == pytest.approx(float(info.mutual_information(p)), abs=1e-12)


def test_marginal_keeps_axes_in_the_order_given():
    p = torch.rand(2, 3, 4, dtype=torch.float64)
    p /= p.sum()
    assert info.marginal(p, (2, 0)).shape == (4, 2)
    assert torch.allclose(info.marginal(p, (2, 0)), p.sum(1).T)


def test_accepts_lists_numpy_and_tensors_alike():
    table = [[0.1, 0.2], [0.3, 0.4]]
    values = {
        float(info.mutual_information(table)),
        float(info.mutual_information(np.array(table))),
        float(info.mutual_information(torch.tensor(table, dtype=torch.float32))),
    }
    assert max(values) - min(values) < 1e-7


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([0.5, -0.1, 0.6], "negative"),
        ([0.5, 0.6], "sum to 1"),
        ([0.5, float("nan")], "finite"),
        ([0.5, float("inf")], "finite"),
        ([], "empty"),
        (0.5, "at least 1 axis"),
    ],
)
def test_entropy_rejects_bad_tables(bad, match):
    with pytest.raises(ValueError, match=match) as err:
        info.entropy(bad)
    assert "p" in str(err.value)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="p_xy"):
        info.joint_entropy([0.5, 0.5])
    with pytest.raises(ValueError, match="unit"):
        info.entropy([1.0], unit="dits")
    with pytest.raises(ValueError, match="axis 2"):
        info.conditional_entropy([[0.5, 0.5]], of=2)
    with pytest.raises(ValueError, match="must not share"):
        info.mutual_information([[0.5, 0.5]], a=0, b=0)
    with pytest.raises(ValueError, match="same shape"):
        info.kl_divergence([0.5, 0.5], [1.0])
    with pytest.raises(TypeError, match="numeric"):
        info.entropy("0.5 0.5")
    with pytest.raises(TypeError, match="of"):
        info.conditional_entropy([[0.5, 0.5]], of=True)


@pytest.mark.parametrize("rho", [1.0, -1.0, 1.5, float("nan")])
def test_rho_outside_open_interval_is_rejected(rho):
    with pytest.raises(ValueError, match="rho"):
        info.correlated_gaussian_mi(rho)


def test_gaussian_inputs_are_validated():
    with pytest.raises(ValueError, match="dim"):
        info.correlated_gaussian_mi(0.5, dim=0)
    with pytest.raises(ValueError, match="dim"):
        info.correlated_gaussian_mi([0.1, 0.2], dim=3)
    with pytest.raises(ValueError, match="positive definite"):
        info.gaussian_entropy([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="symmetric"):
        info.gaussian_entropy([[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="square"):
        info.gaussian_entropy([[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="dim_x"):
        info.gaussian_mutual_information(torch.eye(3), dim_x=3)


# --- quantized Gaussians ----------------------------------------------------------------------


def test_quantized_normal_entropy_approaches_differential_entropy_plus_log_bins():
    for var in (0.25, 1.0, 2.0):  # the grid spans +-8, at least 5.6 standard deviations
        h = float(info.entropy(info.quantized_normal(0.01, var=var)))
        assert h + math.log(0.01) == pytest.approx(float(info.gaussian_entropy(var)), abs=1e-4)


@pytest.mark.parametrize("rho", [0.3, 0.9, 0.99])
def test_quantized_bivariate_normal_obeys_data_processing_and_converges(rho):
    closed = float(info.correlated_gaussian_mi(rho))
    deltas = (0.8, 0.4, 0.2, 0.1, 0.05)
    estimates = [float(info.mutual_information(info.quantized_bivariate_normal(rho, d))) for d in deltas]
    assert all(e <= closed + 1e-9 for e in estimates)  # quantizing loses information
    assert all(a <= b + 1e-9 for a, b in zip(estimates, estimates[1:], strict=False))  # nested grids
    assert estimates[-1] == pytest.approx(closed, rel=0.02)


def test_quantized_bivariate_normal_cells_match_scipy():
    rho, delta = 0.6, 1.0
    table = info.quantized_bivariate_normal(rho, delta, half_width=3.0)
    mvn = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]])
    # P(0 <= X < 1, -1 <= Y < 0) by inclusion-exclusion of the joint CDF (cell (3, 2) of the grid).
    f = mvn.cdf
    expected = f([1, 0]) - f([0, 0]) - f([1, -1]) + f([0, -1])
    mass_inside = f([3, 3]) - f([-3, 3]) - f([3, -3]) + f([-3, -3])
    assert float(table[3, 2]) == pytest.approx(expected / mass_inside, rel=1e-5)
    assert table.shape == (6, 6) and float(table.sum()) == pytest.approx(1.0, abs=1e-12)


def test_quantized_grids_validate_arguments():
    with pytest.raises(ValueError, match="delta"):
        info.quantized_normal(0.0)
    with pytest.raises(ValueError, match="delta"):
        info.quantized_normal(0.3, half_width=1.0)
    with pytest.raises(ValueError, match="rho"):
        info.quantized_bivariate_normal(1.0, 0.5)
    with pytest.raises(ValueError, match="var"):
        info.quantized_normal(0.5, var=-1.0)


# --- tolerances and scalars: NaN and nonsense are refused, never silently used ------------------

TABLE_FUNCTIONS = {
    "entropy": lambda atol: info.entropy([5.0, 5.0], atol=atol),
    "joint_entropy": lambda atol: info.joint_entropy([[5.0, 5.0]], atol=atol),
    "marginal": lambda atol: info.marginal([[5.0, 5.0]], 0, atol=atol),
    "conditional_entropy": lambda atol: info.conditional_entropy([[5.0, 5.0]], atol=atol),
    "mutual_information": lambda atol: info.mutual_information([[5.0, 5.0]], atol=atol),
    "kl_divergence": lambda atol: info.kl_divergence([5.0, 5.0], [0.5, 0.5], atol=atol),
}


@pytest.mark.parametrize("function", sorted(TABLE_FUNCTIONS))
@pytest.mark.parametrize("atol", [math.nan, -1.0, math.inf, 20.0])
def test_a_nan_or_absurd_tolerance_is_refused_not_used(function, atol):
    # A NaN atol made `abs(total - 1) > atol` false, so a table summing to 10 gave H = -16.09.
    with pytest.raises(ValueError, match="atol must be a finite number >= 0"):
        TABLE_FUNCTIONS[function](atol)


def test_tolerance_type_is_checked():
    with pytest.raises(TypeError, match="atol"):
        info.entropy([0.5, 0.5], atol="1e-6")


@pytest.mark.parametrize("function", sorted(TABLE_FUNCTIONS))
def test_a_nan_inside_a_table_is_refused_by_every_function(function):
    calls = {
        "entropy": lambda: info.entropy([0.5, math.nan]),
        "joint_entropy": lambda: info.joint_entropy([[0.5, math.nan]]),
        "marginal": lambda: info.marginal([[0.5, math.nan]], 0),
        "conditional_entropy": lambda: info.conditional_entropy([[0.5, math.nan]]),
        "mutual_information": lambda: info.mutual_information([[0.5, math.nan]]),
        "kl_divergence": lambda: info.kl_divergence([0.5, 0.5], [0.5, math.nan]),
    }
    with pytest.raises(ValueError, match="must be finite; it holds 1 NaN"):
        calls[function]()


def test_boolean_and_string_tables_are_refused():
    with pytest.raises(TypeError, match="p must be numeric"):
        info.entropy([True, False])
    with pytest.raises(TypeError, match="p must be numeric"):
        info.entropy(torch.tensor([True, False]))


def test_axes_accept_numpy_ints_and_refuse_strings():
    p = [[0.25, 0.25], [0.5, 0.0]]
    assert float(info.conditional_entropy(p, of=np.int64(1), given=np.int64(0))) == pytest.approx(
        float(info.conditional_entropy(p, of=1, given=0)), abs=0
    )
    with pytest.raises(TypeError, match="of must be an int or a sequence of ints"):
        info.conditional_entropy(p, of="1")
    with pytest.raises(TypeError, match="given"):
        info.conditional_entropy(p, of=1, given=[0.0])


def test_gaussian_scalars_are_checked_for_type_and_range():
    with pytest.raises(TypeError, match="dim_x"):
        info.gaussian_mutual_information(torch.eye(3), dim_x=True)
    with pytest.raises(ValueError, match="cov must be at least 2 x 2"):
        info.gaussian_mutual_information(2.0, dim_x=1)
    with pytest.raises(TypeError, match="dim"):
        info.correlated_gaussian_mi(0.5, dim=2.0)
    with pytest.raises(ValueError, match="cov must be finite"):
        info.gaussian_entropy([[1.0, math.nan], [math.nan, 1.0]])


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: info.quantized_normal(math.nan), "delta"),
        (lambda: info.quantized_normal(0.5, var=math.nan), "var"),
        (lambda: info.quantized_normal(0.5, half_width=math.nan), "half_width"),
        (lambda: info.quantized_normal(0.5, half_width=-8.0), "half_width"),
        (lambda: info.quantized_bivariate_normal(math.nan, 0.5), "rho"),
        (lambda: info.quantized_bivariate_normal(0.5, 0.5, nodes=0), "nodes"),
        (lambda: info.quantized_bivariate_normal(0.5, 0.5, nodes=1000), "nodes"),
    ],
)
def test_quantized_grid_scalars_are_refused_with_their_names(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_a_grid_too_fine_to_hold_in_memory_is_refused_at_once():
    # 1.6e10 bins (130 GB) and a 12000 x 12000 x 16 quadrature: refused before any allocation.
    with pytest.raises(ValueError, match="larger delta"):
        info.quantized_normal(1e-9)
    with pytest.raises(ValueError, match="larger delta"):
        info.quantized_bivariate_normal(0.5, 0.001)


def test_an_axis_beyond_the_table_names_the_table_too():
    with pytest.raises(ValueError, match=r"^of has axis 1, but the table p has only 1 axis"):
        info.conditional_entropy([0.5, 0.5], of=1, given=0)
