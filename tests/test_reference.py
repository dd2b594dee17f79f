"""jessl_lite.reference: every stored reference record is reproduced by the code as it is now.

For each record in the package, its experiment must still run the stored configuration and
protocol, and the first steps re-run from the stored seed must give the stored losses (bit-exact:
the records were made on a CPU). A number the current code cannot reproduce fails here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from jessl_lite import reference
from jessl_lite.reference import EXPERIMENTS, Experiment, Setup, register, verify
from jessl_lite.runs import Run
from jessl_lite.train import FitConfig

pytestmark = pytest.mark.usefixtures("one_thread")

RECORDS = sorted((Path(reference.__file__).parent / "records").glob("**/*.json"))


@pytest.mark.parametrize("path", RECORDS, ids=[str(p.relative_to(p.parents[2])) for p in RECORDS])
def test_every_stored_record_is_reproduced_by_the_current_code(path):
    record = Run.load(path)
    assert record.info["reference"] in reference.EXPERIMENTS or reference.experiment(record.info["reference"])
    assert len(record.curves["step"]) >= reference.CHECK_STEPS
    assert verify(record) == []


def test_every_registered_experiment_has_its_records_with_at_least_three_seeds():
    reference._load_definitions()
    for name, spec in EXPERIMENTS.items():
        if name.startswith("test/"):
            continue
        stored = reference.load(name)
        missing = [(v, s) for v in spec.variants for s in spec.seeds if not reference.record_path(name, v, s).is_file()]
        assert not missing, f"{name}: no records for {missing}; run python -m jessl_lite.reference run {name}"
        assert all(len(runs) >= 3 for runs in stored.values())


# --- the mechanism itself, on a tiny experiment of its own ------------------------------------------


class _Bilinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Linear(3, 3, bias=False)

    def loss(self, x, y):
        scores = self.w(x) @ y.T
        loss = nn.functional.cross_entropy(scores, torch.arange(x.shape[0]))
        return loss, {"loss": loss.detach()}


def _pairs(step, generator):
    x = torch.randn(16, 3, generator=generator)
    return x, x + 0.5 * torch.randn(16, 3, generator=generator)


_LR = {"value": 0.05}


def _tiny_setup(variant: str, seed: int) -> Setup:
    torch.manual_seed(seed)
    config = FitConfig(steps=12, optimizer="adam", lr=_LR["value"] * (2 if variant == "fast" else 1), seed=seed,
                       log_every=1, eval_at_start=False)
    def weight_norm(method, step):
        return {"weight_norm": float(method.w.weight.detach().norm())}

    return Setup(_Bilinear(), _pairs, None, config, hooks=[weight_norm], info={"protocol": "tiny"})


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("JESSL_REFERENCE_RECORDS", str(tmp_path))
    reference._load_definitions()
    if "test/tiny" not in EXPERIMENTS:
        register(Experiment("test/tiny", "a tiny experiment", "none", ("slow", "fast"), _tiny_setup))
    yield tmp_path
    _LR["value"] = 0.05


def test_run_writes_records_that_verify_and_a_changed_number_is_caught(tiny):
    records = reference.run("test/tiny", progress=False, checkpoint_root=tiny / "ckpt")
    assert len(records) == 6 and {r.info["variant"] for r in records} == {"slow", "fast"}
    path = reference.record_path("test/tiny", "fast", 1)
    stored = Run.load(path)
    assert stored.info["reference"] == "test/tiny" and stored.seed == 1 and stored.final("weight_norm") > 0
    assert stored.config == _tiny_setup("fast", 1).config.to_dict()  # without the runner's checkpoint fields
    assert stored.info["cpu_kind"] == reference.cpu_kind()
    assert verify(stored) == []
    spread = reference.spread(reference.load("test/tiny")["fast"], "weight_norm")
    assert spread["seeds"] == 3 and spread["min"] <= spread["mean"] <= spread["max"]

    # A record edited by hand is caught.
    data = json.loads(path.read_text())
    data["curves"]["loss"][2] += 1e-7
    path.write_text(json.dumps(data))
    assert any("first 5 losses" in problem for problem in verify(Run.load(path)))

    # So is code that would now run another configuration (here: another learning rate).
    _LR["value"] = 0.06
    problems = verify(reference.load("test/tiny")["slow"][0])
    assert any("configuration" in p for p in problems) and any("losses" in p for p in problems)


def test_an_existing_record_is_kept_and_an_unknown_variant_refused(tiny):
    reference.run("test/tiny", ["slow"], [0], progress=False, checkpoint_root=tiny / "ckpt")
    path = reference.record_path("test/tiny", "slow", 0)
    before = path.read_text()
    reference.run("test/tiny", ["slow"], [0], progress=False, checkpoint_root=tiny / "ckpt")
    assert path.read_text() == before
    with pytest.raises(ValueError, match="no variants"):
        reference.run("test/tiny", ["medium"], progress=False)
    with pytest.raises(ValueError, match="no reference experiment"):
        reference.experiment("ch99/nothing")
    assert math.isnan(reference.spread([Run.load(path)], "weight_norm")["std"])


def _noise_digits(n: int = 64):
    from jessl_lite.data import ImageData

    images = torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return ImageData(images, torch.arange(n) % 10, tuple("0123456789"), "noise")


def _game_setup(variant: str, seed: int) -> Setup:
    # An experiment with a loop of its own (chapter 5's adversarial game), at a toy size.
    from jessl_lite.experiments.infomax import mlp_encoder, train_adversarial

    data = _noise_digits()
    torch.manual_seed(seed)
    encoder = mlp_encoder((8,), 4)
    config = {"steps": 9, "encoder_steps": 5, "warmup_steps": 4, "seed": seed, "lr": _LR["value"]}

    def train(until=None, progress=False, checkpoint_dir=None, checkpoint_every=0, resume=False):
        return train_adversarial(encoder, data, data, data, steps=5, warmup_steps=4, batch_size=8, classifier_steps=2,
                                 evals=1, seed=seed, lr=config["lr"], until=until, progress=progress,
                                 checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, resume=resume)

    return Setup(encoder, data, None, config, info={"protocol": "game"}, train=train, curve="classifier_loss")


def test_an_experiment_with_its_own_loop_is_run_and_verified(tiny):
    if "test/game" not in EXPERIMENTS:
        register(Experiment("test/game", "a two-player game", "none", ("only",), _game_setup))
    record = reference.run("test/game", progress=False, checkpoint_root=tiny / "ckpt")[0]
    stored = Run.load(reference.record_path("test/game", "only", 0))
    assert stored.config == _game_setup("only", 0).config and stored.info["protocol"] == "game"
    assert stored.steps == record.steps == 9 and stored.curves["classifier_loss"] == record.curves["classifier_loss"]
    assert (tiny / "ckpt" / "test/game" / "only-seed0" / "checkpoint.pt").is_file()
    assert verify(stored) == []
    _LR["value"] = 0.06  # the code would now run another classifier learning rate
    problems = verify(stored)
    assert any("configuration" in p for p in problems) and any("first 5 losses" in p for p in problems)
    with pytest.raises(ValueError, match="'steps'"):
        Setup(nn.Linear(2, 2), None, None, {"seed": 0}, train=lambda **kw: None)
    with pytest.raises(TypeError, match="config must be a FitConfig"):
        Setup(nn.Linear(2, 2), None, None, {"seed": 0, "steps": 3})


def test_compare_states_a_verdict_only_where_the_seeds_ranges_separate():
    held = reference.compare([0.90, 0.92, 0.91], [0.85, 0.88, 0.86])
    assert held["verdict"] == "holds"
    assert held["effect"] == pytest.approx(0.91 - (0.85 + 0.88 + 0.86) / 3, abs=1e-12)
    assert held["least"] == pytest.approx(0.90 - 0.88) and held["most"] == pytest.approx(0.92 - 0.85)
    assert reference.compare([0.1, 0.2], [0.3, 0.4])["verdict"] == "reversed"
    overlap = reference.compare([0.80, 0.90], [0.85])  # a fixed baseline inside the arm's range
    assert overlap["verdict"] == "unresolved" and overlap["least"] < 0 < overlap["most"]
    assert reference.compare(0.5, 0.5)["verdict"] == "unresolved"  # a tie is no verdict
    with pytest.raises(TypeError, match="^low must be a number"):
        reference.compare([1.0], "0.5")
    with pytest.raises(ValueError, match=r"^high\[0\] must be a finite number"):
        reference.compare([math.nan], [0.5])


def test_a_record_from_another_cpu_kind_is_checked_within_a_relative_tolerance(tiny):
    reference.run("test/tiny", ["slow"], [0], progress=False, checkpoint_root=tiny / "ckpt")
    path = reference.record_path("test/tiny", "slow", 0)
    data = json.loads(path.read_text())
    data["info"]["cpu_kind"] = "another kind"
    data["curves"]["loss"][2] *= 1 + 1e-7  # a rounding difference of another CPU's kernels
    path.write_text(json.dumps(data))
    assert verify(Run.load(path)) == []
    scale = max(abs(v) for v in data["curves"]["loss"][: reference.CHECK_STEPS])
    data["curves"]["loss"][2] += 2 * reference.CPU_RTOL * scale  # a real difference
    path.write_text(json.dumps(data))
    assert any("of their scale" in problem and "another kind" in problem for problem in verify(Run.load(path)))
