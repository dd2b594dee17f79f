"""jessl_lite.runs, checkpoints, distributed: the record and the checkpoint helpers refuse bad
arguments with messages naming them (the record's behaviour is tested in test_train.py)."""

from __future__ import annotations

import math

import pytest
import torch

from jessl_lite.checkpoints import load_checkpoint, remove_stale_temporaries, restore_rng_state, rng_state
from jessl_lite.distributed import gather_with_grad
from jessl_lite.runs import Run


def _run() -> Run:
    run = Run(method="SimSiam")
    for step in range(10):
        run.log_step(step, {"loss": float(step)})
    run.log_eval(10, {"knn": 0.5})
    return run


@pytest.mark.parametrize("bad", [1, 1.5, True, "5", None])
def test_subsampling_sizes_are_ints_of_at_least_two(bad):
    with pytest.raises((TypeError, ValueError), match="^max_points must be an int"):
        _run().subsampled(bad)
    if bad is not None:  # to_json(max_points=None) keeps every step
        with pytest.raises((TypeError, ValueError), match="^max_points must be an int"):
            _run().to_json(max_points=bad)


def test_the_record_checks_what_goes_in():
    run = _run()
    with pytest.raises(TypeError, match="^step must be an int"):
        run.log_step(1.5, {"loss": 0.0})
    with pytest.raises(ValueError, match="^step must be an int >= 0"):
        run.log_eval(-1, {"knn": 0.1})
    with pytest.raises(TypeError, match="^values must be a dict"):
        run.log_step(11, [0.1])
    with pytest.raises(TypeError, match="^metrics must be a dict"):
        run.log_eval(11, 0.5)
    with pytest.raises(TypeError, match="^name must be a str"):
        run.curve(0)
    with pytest.raises(TypeError, match="^head must be an int"):
        run.subsampled(5, head=1.0)
    with pytest.raises(TypeError, match="^method must be a str"):
        Run(method=None)
    with pytest.raises(ValueError, match="^seconds must be a finite number >= 0"):
        Run(seconds=math.nan)
    with pytest.raises(ValueError, match="^curves must hold a 'step' column"):
        Run(curves={"loss": [1.0]})
    with pytest.raises(TypeError, match="^text must be a str"):
        Run.from_json({"method": "x"})
    with pytest.raises(ValueError, match="^text is not JSON"):
        Run.from_json("{")
    with pytest.raises(TypeError, match=r"^path must be a path"):
        Run.load(None)
    assert Run.from_json(run.to_json()).final("knn") == 0.5


def test_checkpoint_helpers_name_their_arguments(tmp_path):
    with pytest.raises(TypeError, match=r"^path must be a path \(str or os.PathLike\)"):
        load_checkpoint(3)
    with pytest.raises(TypeError, match=r"^path must be a path \(str or os.PathLike\)"):
        remove_stale_temporaries(None)
    with pytest.raises(TypeError, match="^generator must be a torch.Generator"):
        rng_state(0)
    with pytest.raises(ValueError, match=r"^state must be the dict rng_state\(\) returns; it lacks \['views'\]"):
        restore_rng_state({k: v for k, v in rng_state(torch.Generator()).items() if k != "views"}, torch.Generator())
    with pytest.raises(TypeError, match="^x must be a torch.Tensor"):
        gather_with_grad([1.0, 2.0])
    with pytest.raises(ValueError, match=r"^x must have shape \(n, ...\); got shape \(\)"):
        gather_with_grad(torch.tensor(1.0))


def test_missing_curves_are_value_errors_naming_name():
    with pytest.raises(ValueError, match=r"^name must be a curve of this run, one of \['loss', 'step'\]; got 'lr'"):
        _run().curve("lr")
    with pytest.raises(ValueError, match="^name must be a metric of this run's evaluations"):
        _run().metric("probe")
    for name in ("device", "torch_version"):
        with pytest.raises(TypeError, match=f"^{name} must be a str"):
            Run(**{name: None})
    with pytest.raises(TypeError, match="^git_commit must be a str or None"):
        Run(git_commit=1234)


def test_a_subsampled_record_still_knows_how_many_steps_it_took():
    run = Run(method="m", seed=0)
    for step in range(3000):
        run.log_step(step, {"loss": float(step)})
    small = Run.from_json(run.to_json(max_points=1000))
    assert len(small.curves["step"]) == 1000 and small.curves["step"][-1] == 2999
    assert run.steps == small.steps == 3000
    assert small.subsampled(10).steps == 3000 and len(small.subsampled(10).curves["step"]) == 10
    assert Run(method="m", seed=0).steps == 0
