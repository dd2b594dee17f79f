"""jessl_lite.validation: every checker names the argument, states what it expected and shows what it got."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jessl_lite import validation as v


@pytest.mark.parametrize("bad", [True, 2.0, "3", None, np.float64(2.0)])
def test_check_int_refuses_non_ints_including_bools(bad):
    with pytest.raises(TypeError, match=r"steps must be an int >= 1; got .*\(") as err:
        v.check_int(bad, "steps", minimum=1)
    assert type(bad).__name__ in str(err.value)


def test_check_int_accepts_numpy_ints_and_checks_the_range():
    assert v.check_int(np.int64(4), "steps", minimum=1) == 4 and type(v.check_int(np.int64(4), "n")) is int
    with pytest.raises(ValueError, match=r"steps must be an int in \[1, 3\]; got 4"):
        v.check_int(4, "steps", minimum=1, maximum=3)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_check_number_refuses_nan_inf_and_out_of_range(bad):
    # A NaN compares false with everything: `if value <= 0: raise` would let it through.
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0; got"):
        v.check_number(bad, "temperature", low=0.0, low_open=True)


def test_check_number_types_and_bounds():
    assert v.check_number(1, "lr", low=0) == 1.0
    assert v.check_number(np.float32(0.5), "p", low=0, high=1) == 0.5
    with pytest.raises(TypeError, match="lr must be a number"):
        v.check_number(True, "lr")
    with pytest.raises(TypeError, match="lr must be a number"):
        v.check_number(torch.tensor(0.1), "lr")
    with pytest.raises(ValueError, match="< 1"):
        v.check_number(1.0, "decay", high=1.0, high_open=True)
    assert v.check_probability(0.0, "flip_p") == 0.0
    with pytest.raises(ValueError, match="flip_p must be a finite number >= 0 and <= 1; got 1.5"):
        v.check_probability(1.5, "flip_p")


def test_choice_and_bool():
    assert v.check_choice("bits", "unit", ("nats", "bits")) == "bits"
    with pytest.raises(ValueError, match="unit must be one of 'nats', 'bits'; got 'dits'"):
        v.check_choice("dits", "unit", ("nats", "bits"))
    with pytest.raises(TypeError, match="stop_gradient must be True or False; got None"):
        v.check_bool(None, "stop_gradient")


def test_int_sequence_names_the_element():
    assert v.check_int_sequence([64, 32], "hidden_dims", minimum=1) == (64, 32)
    assert v.check_int_sequence((), "hidden_dims") == ()
    with pytest.raises(ValueError, match=r"hidden_dims\[1\] must be an int >= 1; got 0"):
        v.check_int_sequence((64, 0), "hidden_dims", minimum=1)
    for bad in (64, "64", {64}):
        with pytest.raises(TypeError, match="hidden_dims must be a sequence of ints"):
            v.check_int_sequence(bad, "hidden_dims")


def test_interval():
    assert v.check_interval((0.2, 1), "crop_scale", low=0, high=1, low_open=True) == (0.2, 1.0)
    with pytest.raises(ValueError, match=r"crop_scale must be a pair \(low, high\) with low <= high"):
        v.check_interval((0.5, 0.2), "crop_scale", low=0, high=1)
    with pytest.raises(ValueError, match=r"crop_scale\[0\] must be a finite number > 0"):
        v.check_interval((0.0, 0.5), "crop_scale", low=0, high=1, low_open=True)
    with pytest.raises(ValueError, match=r"crop_scale\[1\]"):
        v.check_interval((0.1, math.nan), "crop_scale", low=0)
    for bad in (0.5, (0.1, 0.2, 0.3), "ab"):
        with pytest.raises(TypeError, match="crop_scale must be a pair"):
            v.check_interval(bad, "crop_scale")


def test_generator():
    g = torch.Generator()
    assert v.check_generator(g, "generator") is g
    assert v.check_generator(None, "generator", optional=True) is None
    with pytest.raises(TypeError, match="generator must be a torch.Generator; got int"):
        v.check_generator(0, "generator")


def test_check_tensor_reports_type_rank_dtype_and_emptiness():
    z = torch.zeros(4, 3)
    assert v.check_tensor(z, "z", ndim=2, floating=True, nonempty=True) is z
    with pytest.raises(TypeError, match=r"z must be a torch.Tensor of shape \(N, D\); got list"):
        v.check_tensor([[0.0]], "z", dims="(N, D)")
    with pytest.raises(ValueError, match=r"z must have shape \(N, D\); got shape \(3,\)"):
        v.check_tensor(torch.zeros(3), "z", ndim=2, dims="(N, D)")
    with pytest.raises(ValueError, match=r"z must have 2 or 3 dimension\(s\); got shape \(3,\)"):
        v.check_tensor(torch.zeros(3), "z", ndim=(2, 3))
    with pytest.raises(ValueError, match=r"at least 2 dimension"):
        v.check_tensor(torch.zeros(3), "z", min_ndim=2)
    with pytest.raises(TypeError, match="z must be a floating-point tensor; got dtype torch.int64"):
        v.check_tensor(torch.zeros(2, 2, dtype=torch.long), "z", floating=True)
    with pytest.raises(TypeError, match="labels must be a tensor of dtype torch.int64; got torch.float32"):
        v.check_tensor(torch.zeros(2), "labels", dtype=torch.int64)
    with pytest.raises(ValueError, match="z must not be empty"):
        v.check_tensor(torch.zeros(0, 3), "z", nonempty=True)


def test_metadata_checks_never_read_the_data():
    # A meta tensor has a shape, a dtype and a device but no data: reading it raises.
    z = torch.empty(5, 3, device="meta")
    v.check_tensor(z, "z", ndim=2, floating=True, nonempty=True)
    v.check_same_shape(z, "z1", torch.empty(5, 3, device="meta"), "z2")
    v.check_same_device(z, "z1", torch.empty(5, 3, device="meta"), "z2")
    with pytest.raises(ValueError, match=r"z2 must have the shape of z1 \(5, 3\); got \(5, 4\)"):
        v.check_same_shape(z, "z1", torch.empty(5, 4, device="meta"), "z2")
    with pytest.raises(ValueError, match="z2 must be on the device of z1"):
        v.check_same_device(torch.zeros(1), "z1", z, "z2")


def test_check_finite_tensor_counts_nan_and_inf():
    assert v.check_finite_tensor(torch.ones(3), "p") is not None
    with pytest.raises(ValueError, match="p must be finite; it holds 2 NaN and 1 infinite"):
        v.check_finite_tensor(torch.tensor([math.nan, 1.0, math.nan, -math.inf]), "p")


def test_as_float64_refuses_strings_bools_and_complex():
    assert v.as_float64([1, 2], "p").dtype == torch.float64
    assert v.as_float64(np.array([0.5]), "p").tolist() == [0.5]
    x = torch.tensor([1.0], requires_grad=True)
    assert v.as_float64(x, "p").requires_grad
    for bad in ("0.5", True, None, [True, False], torch.tensor([True]), [1j], {"a": 1}, [[1.0], [1.0, 2.0]]):
        with pytest.raises(TypeError, match="p must be numeric"):
            v.as_float64(bad, "p")


@pytest.mark.parametrize(
    ("table", "atol", "error", "match"),
    [
        ([5.0, 5.0], math.nan, ValueError, "atol must be a finite number >= 0"),
        ([5.0, 5.0], -1.0, ValueError, "atol"),
        ([0.6, 0.6], 0.5, ValueError, "atol"),  # a 20% tolerance is no check at all
        ([0.5, 0.5], "1e-6", TypeError, "atol"),
        ([0.5, math.nan], 1e-6, ValueError, "p must be finite; it holds 1 NaN"),
        ([1.5, -0.5], 1e-6, ValueError, "negative"),
        ([0.5, 0.6], 1e-6, ValueError, "sum to 1"),
        ([], 1e-6, ValueError, "empty"),
    ],
)
def test_probability_table_refuses_bad_tables_and_bad_tolerances(table, atol, error, match):
    with pytest.raises(error, match=match):
        v.check_probability_table(table, "p", atol=atol)


def test_probability_table_accepts_a_fair_coin_and_exact_zero_tolerance():
    assert v.check_probability_table([0.5, 0.5], "p", atol=0.0).tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"at least 2 axis"):
        v.check_probability_table([0.5, 0.5], "p_xy", min_ndim=2)


def test_covariance():
    assert v.check_covariance(2.0, "cov").tolist() == [[2.0]]
    with pytest.raises(ValueError, match="cov must be finite"):
        v.check_covariance([[1.0, math.nan], [math.nan, 1.0]], "cov")
    with pytest.raises(ValueError, match="square"):
        v.check_covariance(torch.zeros(0, 0), "cov")
    with pytest.raises(ValueError, match="positive definite"):
        v.check_covariance([[1.0, 2.0], [2.0, 1.0]], "cov")


def test_as_float64_keeps_full_precision_of_python_floats():
    # torch.as_tensor([0.1]) is float32 (0.10000000149...); a probability table must not be rounded.
    assert v.as_float64([0.1, 0.2], "p").tolist() == [0.1, 0.2]


def test_tensor_range_reports_the_range_found_and_skips_accelerators_when_asked():
    x = torch.tensor([0.0, 128.0, 255.0])
    with pytest.raises(ValueError, match=r"images must lie in \[0, 1\]; its values range over \[0, 255\]. Scale"):
        v.check_tensor_range(x, "images", low=0.0, high=1.0, hint=". Scale")
    assert v.check_tensor_range(x / 255, "images", low=0.0, high=1.0) is not None
    assert v.check_tensor_range(torch.tensor([math.nan, 0.5]), "images", low=0.0, high=1.0) is not None
    assert v.check_tensor_range(torch.zeros(0), "images", low=1.0) is not None
    with pytest.raises(ValueError, match=r"top must lie in \[0, inf\]"):
        v.check_tensor_range(torch.tensor([-1, 3]), "top", low=0)
    # cpu_only: a tensor elsewhere is not read (a meta tensor has no data to read).
    meta = torch.empty(3, device="meta")
    assert v.check_tensor_range(meta, "factor", low=0.0, cpu_only=True) is meta


def test_check_device_parses_and_refuses_missing_gpus(monkeypatch):
    assert v.check_device("cpu", "device") == torch.device("cpu")
    with pytest.raises(TypeError, match="device must be a str or a torch.device"):
        v.check_device(0, "device")
    with pytest.raises(ValueError, match="device must name a torch device"):
        v.check_device("gpu", "device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda:1' asks for a CUDA GPU, but none is available"):
        v.check_device("cuda:1", "device")


def test_instance_and_callable_checks_name_the_argument():
    assert v.check_instance(torch.nn.Linear(1, 1), "critic", torch.nn.Module, "an nn.Module") is not None
    with pytest.raises(TypeError, match="^critic must be an nn.Module; got str$"):
        v.check_instance("mlp", "critic", torch.nn.Module, "an nn.Module")
    with pytest.raises(TypeError, match=r"^hook must be callable as hook\(method, step\); got int$"):
        v.check_callable(3, "hook", "hook(method, step)")


def test_matching_tensors_name_the_one_that_differs():
    z = torch.zeros(4, 3)
    v.check_matching_tensors({"z1": z, "z2": z}, ndim=2)
    with pytest.raises(ValueError, match=r"^z2 must have the shape of z1 \(4, 3\); got \(4, 2\)$"):
        v.check_matching_tensors({"z1": z, "z2": torch.zeros(4, 2)}, ndim=2)
    with pytest.raises(TypeError, match="^z2 must be a torch.Tensor"):
        v.check_matching_tensors({"z1": z, "z2": [[0.0]]})
    with pytest.raises(ValueError, match="^z1 must not be empty"):
        v.check_matching_tensors({"z1": z[:0], "z2": z[:0]}, nonempty=True)


def test_finite_check_can_leave_accelerator_tensors_unread():
    nan = torch.tensor([1.0, math.nan])
    with pytest.raises(ValueError, match="scores must be finite; it holds 1 NaN and 0 infinite value.s.: hint$"):
        v.check_finite_tensor(nan, "scores", cpu_only=True, hint=": hint")
    meta = torch.empty(2, device="meta")  # not the CPU: returned unread
    assert v.check_finite_tensor(meta, "scores", cpu_only=True) is meta


def test_pair_checks_name_a_non_tensor():
    z = torch.zeros(3)
    for check in (v.check_same_shape, v.check_same_device):
        with pytest.raises(TypeError, match="^z2 must be a torch.Tensor; got list"):
            check(z, "z1", [0.0, 0.0, 0.0], "z2")
    with pytest.raises(TypeError, match="^scores must be a torch.Tensor"):
        v.check_finite_tensor([1.0], "scores")
    with pytest.raises(TypeError, match="^images must be a torch.Tensor"):
        v.check_tensor_range(None, "images", low=0.0)
    with pytest.raises(TypeError, match="^tensors must be a non-empty dict"):
        v.check_matching_tensors([z, z])


def test_str_path_and_size_checks():
    assert v.check_str("knn", "name") == "knn" and v.check_str(None, "name", optional=True) is None
    with pytest.raises(TypeError, match="^name must be a str; got 3$"):
        v.check_str(3, "name")
    with pytest.raises(TypeError, match="^name must be a non-empty str; got ''$"):
        v.check_str("", "name", nonempty=True)
    with pytest.raises(TypeError, match=r"^path must be a path \(str or os.PathLike\) or None; got int$"):
        v.check_path(3, "path", optional=True)
    v.check_sizes(dim=4, proj_layers=1)
    with pytest.raises(ValueError, match="^proj_layers must be an int >= 1; got 0$"):
        v.check_sizes(dim=4, proj_layers=0)
