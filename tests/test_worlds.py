"""Finite worlds (chapter 6): every identity of the derivation, exactly, on random worlds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import entropy as scipy_entropy

from jessl_lite.experiments.worlds import (
    AXIS_T,
    AXIS_T_PRIME,
    AXIS_V,
    AXIS_V_HAT,
    AXIS_X,
    World,
    all_encoders,
    class_encoder,
    constant_encoder,
    ib_search,
    identity_encoder,
    information_terms,
    is_injective_in_t,
    joint_table,
    make_world,
    random_world,
    shifted_world,
)

TOL = 1e-9


@st.composite
def worlds_with_encoders(draw):
    """A random world with random online and target encoders (codes 0..3) and a beta in [0, 4]."""
    seed = draw(st.integers(0, 2**31 - 1))
    n_x, n_t, n_y = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 5))
    generator = torch.Generator().manual_seed(seed)
    world = random_world(n_x, n_t, n_y, generator=generator)
    f = torch.randint(0, 4, (n_y,), generator=generator)
    g = torch.randint(0, 4, (n_y,), generator=generator) if draw(st.booleans()) else None
    beta = draw(st.floats(0.0, 4.0))
    return world, f, g, beta


def reference_h_v_given_x(world, f) -> float:
    """H(V|X) from p(v|x) = sum over t with f(t(x)) = v of d(t), summed with scipy (no jessl_lite.info)."""
    p_x, d_t = world.p_x.numpy(), world.d_t.numpy()
    codes = f.numpy()[world.transform.numpy()]  # (n_t, n_x)
    total = 0.0
    for x in range(world.n_x):
        p_v = np.bincount(codes[:, x], weights=d_t)
        total += p_x[x] * scipy_entropy(p_v)
    return total


# --- the joint table -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(worlds_with_encoders())
def test_joint_table_has_the_worlds_marginals(case):
    world, f, g, _ = case
    p = joint_table(world, f, g)
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-12)
    torch.testing.assert_close(p.sum(dim=(1, 2, 3, 4)), world.p_x, atol=1e-12, rtol=0)
    torch.testing.assert_close(p.sum(dim=(0, 2, 3, 4)), world.d_t, atol=1e-12, rtol=0)
    # T and T' independent of each other and of X.
    p_xtt = p.sum(dim=(AXIS_V, AXIS_V_HAT))
    product = world.p_x[:, None, None] * world.d_t[None, :, None] * world.d_t[None, None, :]
    torch.testing.assert_close(p_xtt, product, atol=1e-12, rtol=0)


def test_joint_table_puts_mass_on_the_encoders_codes():
    world = shifted_world([1.0], n_poses=3, d_t=[0.5, 0.5])
    f = torch.tensor([0, 1, 1])
    p = joint_table(world, f)
    # x = 2 turned by 1 step is observation 0, code 0; its target under t' = 0 is observation 2, code 1.
    assert float(p[2, 1, 0, 0, 1]) == pytest.approx(world.p_x[2] * 0.25)
    assert float(p[2, 1, 0, 1, 1]) == 0.0


# --- the identities of the chapter ---------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(worlds_with_encoders())
def test_every_identity_of_the_derivation_holds(case):
    world, f, g, beta = case
    t = information_terms(world, f, target=g)
    # Mutual information as entropies (step 1), chain rule (step 2).
    assert float(t.ib_lagrangian(beta)) == pytest.approx(
        float(t.h_v - t.h_v_given_x - beta * (t.h_v - t.h_v_given_v_hat)), abs=TOL
    )
    assert float(t.h_v_given_x) == pytest.approx(float(t.h_xv - t.h_x), abs=TOL)
    # The corrected step: H(V|X) = H(T) - H(T|V,X) <= H(T).
    assert float(t.h_v_given_x) == pytest.approx(float(t.h_t - t.h_t_given_vx), abs=TOL)
    assert float(t.h_v_given_x) <= float(t.h_t) + TOL
    # The exact Lagrangian: the post's form plus the remainder.
    assert float(t.ib_lagrangian(beta)) == pytest.approx(float(t.blog_lagrangian(beta) + t.h_t_given_vx), abs=TOL)
    # Data processing on V - X - V_hat, whatever the target.
    assert float(t.i_v_v_hat) <= float(t.i_xv) + TOL
    # An independent computation of H(V|X) (scipy, from p(v|x) summed over transformations).
    assert float(t.h_v_given_x) == pytest.approx(reference_h_v_given_x(world, f), abs=TOL)


@settings(max_examples=80, deadline=None)
@given(worlds_with_encoders())
def test_remainder_vanishes_exactly_for_injective_encoders(case):
    world, f, _, _ = case
    remainder = float(information_terms(world, f).h_t_given_vx)
    if is_injective_in_t(world, f):
        assert remainder < TOL
    else:
        assert remainder > 1e-6


def test_injective_encoder_reproduces_the_posts_formula_exactly():
    world = shifted_world([0.6, 0.4], n_poses=3, d_t=[0.7, 0.3])
    f = identity_encoder(world)
    assert is_injective_in_t(world, f)
    t = information_terms(world, f)
    h_t = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3))
    assert float(t.h_t) == pytest.approx(h_t, abs=1e-12)
    assert float(t.h_v_given_x) == pytest.approx(h_t, abs=1e-12)
    assert float(t.h_t_given_vx) == pytest.approx(0.0, abs=1e-12)
    for beta in (0.0, 0.5, 1.0, 1.5, 3.0):
        assert float(t.ib_lagrangian(beta)) == pytest.approx(float(t.blog_lagrangian(beta)), abs=1e-12)


@pytest.mark.parametrize("name", ["class", "merge two poses"])
def test_non_injective_encoder_has_a_strictly_positive_gap_equal_to_the_remainder(name):
    world = shifted_world([0.6, 0.4], n_poses=3, d_t=[0.7, 0.3])
    f = class_encoder(world, n_poses=3) if name == "class" else torch.tensor([0, 0, 1, 2, 3, 4])
    assert not is_injective_in_t(world, f)
    t = information_terms(world, f)
    gap = float(t.ib_lagrangian(1.5) - t.blog_lagrangian(1.5))
    assert gap > 0.01
    assert gap == pytest.approx(float(t.h_t_given_vx), abs=1e-12)
    assert float(t.h_t - t.h_v_given_x) == pytest.approx(gap, abs=1e-12)
    if name == "class":
        # Invariant: V is a function of X, so H(V|X) = 0 and the whole of H(T) is the remainder.
        assert float(t.h_v_given_x) == pytest.approx(0.0, abs=1e-12)
        assert gap == pytest.approx(float(t.h_t), abs=1e-12)
    else:
        # Observations c0s0 and c0s1 share code 0. Only input c0s0 sees both of them (turned by 0 and
        # by 1), so only there is t hidden: the remainder is p(c0s0) H(T) = 0.2 H(T).
        h_t = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3))
        assert gap == pytest.approx(0.2 * h_t, abs=1e-12)


def test_exercise_world_by_pen_and_paper():
    from jessl_lite.exercises.ch06 import ENCODER_6_1, WORLD_6_1

    t = information_terms(WORLD_6_1, ENCODER_6_1, unit="bits")
    h2_quarter = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    assert float(t.h_v_given_x) == pytest.approx(0.5 * 1.0 + 0.5 * h2_quarter, abs=1e-12)
    assert float(t.h_t) == pytest.approx(1.5, abs=1e-12)
    h2_third = -(1 / 3 * math.log2(1 / 3) + 2 / 3 * math.log2(2 / 3))
    assert float(t.h_t_given_vx) == pytest.approx(0.5 * 0.5 * 1.0 + 0.5 * 0.75 * h2_third, abs=1e-12)


# --- collapse and the exhaustive search ----------------------------------------------------


def test_all_encoders_are_the_set_partitions():
    bell = [1, 2, 5, 15, 52, 203, 877]
    for n, count in enumerate(bell, start=1):
        codes = all_encoders(n)
        assert codes.shape == (count, n)
        assert len({tuple(row) for row in codes.tolist()}) == count
    codes = all_encoders(4)
    assert codes[0].tolist() == [0, 0, 0, 0] and codes[-1].tolist() == [0, 1, 2, 3]
    # Restricted growth: each code is at most one more than every earlier code.
    for row in codes.tolist():
        assert all(row[i] <= max(row[:i]) + 1 for i in range(1, 4))


@pytest.mark.parametrize("objective", ["ib", "blog"])
def test_search_finds_the_constant_encoder_optimal_below_beta_one(objective):
    world = shifted_world([0.6, 0.4], n_poses=3, d_t=[0.7, 0.3])
    betas = [0.0, 0.25, 0.5, 0.9, 0.99]
    result = ib_search(world, betas, objective=objective)
    constant = information_terms(world, constant_encoder(world))
    for k, beta in enumerate(betas):
        assert result.encoders[result.best[k]].tolist() == constant_encoder(world).tolist()
        expected = constant.ib_lagrangian(beta) if objective == "ib" else constant.blog_lagrangian(beta)
        assert float(result.best_values()[k]) == pytest.approx(float(expected), abs=1e-12)
        # No encoder does better than the constant one.
        assert float(result.values[k].min()) >= float(expected) - 1e-12
    if objective == "blog":
        # The post's form has the constant as its unique minimizer: every other encoder is strictly worse.
        others = result.values[:, 1:]
        assert float((others - result.best_values()[:, None]).min()) > 1e-3


def test_search_leaves_collapse_for_the_class_encoder_just_above_beta_one():
    world = shifted_world([0.6, 0.4], n_poses=3, d_t=[0.7, 0.3])
    result = ib_search(world, [1.05, 2.0])
    for k in range(2):
        assert result.encoders[result.best[k]].tolist() == class_encoder(world, n_poses=3).tolist()
    h_class = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    assert float(result.best_values()[1]) == pytest.approx(-h_class, abs=1e-12)


def test_ring_leaves_collapse_at_the_ratio_of_the_identity():
    # No invariant encoder but the constant: the optimum leaves collapse at I(X;V)/I(V;V_hat) of the identity.
    ring = shifted_world([1.0], n_poses=4, d_t=[0.7, 0.3])
    h_t = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3))
    diff = np.array([0.21, 0.58, 0.21])
    i_vv = math.log(4) + float((diff * np.log(diff)).sum())
    beta_true = (math.log(4) - h_t) / i_vv
    result = ib_search(ring, [beta_true - 1e-6, beta_true + 1e-6])
    below, above = result.encoders[result.best].tolist()
    assert below == [0, 0, 0, 0] and above == [0, 1, 2, 3]


def test_frozen_target_does_not_prevent_collapse():
    world = shifted_world([0.6, 0.4], n_poses=3, d_t=[0.7, 0.3])
    for target in (class_encoder(world, n_poses=3), identity_encoder(world)):
        result = ib_search(world, [0.5], target=target)
        assert result.encoders[result.best[0]].tolist() == constant_encoder(world).tolist()


# --- bad input -----------------------------------------------------------------------------


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="p_x"):
        make_world([0.5, 0.6], [1.0], [[0, 1]])
    with pytest.raises(ValueError, match="transform"):
        make_world([0.5, 0.5], [1.0], [[0, 1, 2]])
    with pytest.raises(TypeError, match="transform"):
        make_world([0.5, 0.5], [1.0], [[0.5, 1.0]])
    world = shifted_world([1.0], n_poses=3, d_t=[1.0])
    with pytest.raises(ValueError, match="encoder"):
        joint_table(world, [0, 1])
    with pytest.raises(ValueError, match="target"):
        joint_table(world, [0, 1, 2], target=[0, -1, 0])
    with pytest.raises(ValueError, match="beta"):
        information_terms(world, [0, 1, 2]).ib_lagrangian(-1.0)
    with pytest.raises(ValueError, match="objective"):
        ib_search(world, [1.0], objective="other")
    with pytest.raises(ValueError, match="n_y"):
        all_encoders(11)
    with pytest.raises(ValueError, match="n_poses"):
        class_encoder(world, n_poses=2)


def test_axes_are_distinct():
    assert sorted([AXIS_X, AXIS_T, AXIS_T_PRIME, AXIS_V, AXIS_V_HAT]) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("tol", [math.nan, -1.0, math.inf])
def test_a_nan_or_negative_tie_tolerance_is_refused(tol):
    # With tol = nan (or -1) no encoder was "near the minimum", and argmin over all-inf picked
    # encoder 0 for every beta: the constant encoder, reported as optimal even at beta = 10.
    world = shifted_world([0.5, 0.5], n_poses=2, d_t=[0.5, 0.5])
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        ib_search(world, [0.5, 10.0], tol=tol)
    with pytest.raises(TypeError, match="tol"):
        ib_search(world, [0.5], tol="0")


def test_zero_tolerance_reports_an_exact_minimizer():
    world = shifted_world([0.5, 0.5], n_poses=2, d_t=[0.5, 0.5])
    result = ib_search(world, [0.5, 10.0], tol=0.0)
    assert torch.equal(result.best_values(), result.values.min(dim=1).values)
    assert result.best[1] != 0  # at beta = 10 collapse is not optimal: I(V; V_hat) = log 2 is worth keeping


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda w: ib_search(w, [0.5, math.nan]), ValueError, "betas must be finite; it holds 1 NaN"),
        (lambda w: ib_search(w, "0.5"), TypeError, "betas"),
        (lambda w: ib_search(w, []), ValueError, "betas"),
        (lambda w: information_terms(w, [0, 1, 2, 3]).ib_lagrangian(math.nan), ValueError, "beta"),
        (lambda w: information_terms(w, [0, 1, 2, 3]).blog_lagrangian(True), TypeError, "beta"),
        (lambda w: joint_table(w, [0.0, 1.0, math.inf, 2.0]), TypeError, "encoder must hold integers"),
        (lambda w: joint_table(w, [0, 1, 10**9, 2]), ValueError, "cells"),
        (lambda w: joint_table("world", [0, 1, 2, 3]), TypeError, "world must be a World"),
        (lambda w: identity_encoder(None), TypeError, "world"),
        (lambda w: class_encoder(w, n_poses=2.0), TypeError, "n_poses"),
    ],
)
def test_bad_arguments_of_the_search_and_the_tables_name_themselves(call, error, match):
    world = shifted_world([0.5, 0.5], n_poses=2, d_t=[0.5, 0.5])
    with pytest.raises(error, match=match):
        call(world)


def test_bad_worlds_are_refused():
    with pytest.raises(ValueError, match="p_x must be finite"):
        make_world([0.5, math.nan], [1.0], [[0, 1]])
    with pytest.raises(ValueError, match="d_t must be finite"):
        shifted_world([1.0], n_poses=2, d_t=[math.nan])
    with pytest.raises(TypeError, match="n_y"):
        make_world([0.5, 0.5], [1.0], [[0, 1]], n_y=True)
    with pytest.raises(ValueError, match="n_y"):
        make_world([0.5, 0.5], [1.0], [[0, 10**9]])
    with pytest.raises(TypeError, match="y_labels"):
        make_world([0.5, 0.5], [1.0], [[0, 1]], y_labels="ab")  # not two names "a" and "b" by accident
    with pytest.raises(TypeError, match="n_poses"):
        shifted_world([1.0], n_poses="3", d_t=[1.0])
    with pytest.raises(TypeError, match="generator"):
        random_world(2, 2, 2, generator=0)
    with pytest.raises(ValueError, match="n_x"):
        random_world(0, 2, 2)


def test_a_world_too_large_to_enumerate_asks_for_candidates():
    world = random_world(2, 2, 12, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="encoders="):
        ib_search(world, [1.0])
    result = ib_search(world, [1.0], encoders=torch.stack([constant_encoder(world), identity_encoder(world)]))
    assert result.values.shape == (1, 2)


def test_betas_of_more_than_one_dimension_are_refused():
    world = shifted_world([0.5, 0.5], n_poses=2, d_t=[0.5, 0.5])
    with pytest.raises(ValueError, match="betas must be a number or a 1-D sequence"):
        ib_search(world, torch.zeros(2, 3))


def test_a_world_built_directly_is_checked_too():
    # World(...) bypassed make_world's checks: a table that does not sum to one gave wrong MI.
    good = make_world([0.5, 0.5], [1.0], [[0, 1]])
    fields = {"p_x": good.p_x, "d_t": good.d_t, "transform": good.transform, "n_y": 2, "y_labels": ("a", "b")}
    World(**fields)
    for name, bad, error in (("p_x", torch.tensor([0.7, 0.7], dtype=torch.float64), ValueError),
                             ("p_x", "abc", TypeError), ("transform", good.transform.float(), TypeError),
                             ("transform", torch.tensor([[0, 2]]), ValueError), ("n_y", True, TypeError),
                             ("y_labels", ("a",), TypeError)):
        with pytest.raises(error, match=f"^{name} must"):
            World(**{**fields, name: bad})
