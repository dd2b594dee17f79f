"""The full profile's code path runs: every chapter executes with ``JESSL_PROFILE=full`` under the
smoke setting (``JESSL_SMOKE=1``: a few steps, a few hundred examples, the full profile's models,
data sets and cells), so that no line of a student's GPU run is one that nobody ran.

The unit tests below check what the smoke setting caps, and that it caps nothing else."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from jessl_lite import profiles
from jessl_lite.bounds import BoundObjective, GaussianStaircase, SeparableCritic, infonce_bound
from jessl_lite.data import ImageData
from jessl_lite.exercises import CODING_EXERCISES, EXERCISES, _main
from jessl_lite.train import FitConfig, fit

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.setenv(profiles.SMOKE_VAR, "1")


@pytest.fixture
def no_smoke(monkeypatch):
    monkeypatch.delenv(profiles.SMOKE_VAR, raising=False)


def _objective():
    torch.manual_seed(0)
    return BoundObjective(SeparableCritic(4, 4, hidden_dim=8, embed_dim=4), infonce_bound)


STAIRS = GaussianStaircase(dim=4, batch_size=16, levels=(1.0,), steps_per_level=40)
CONFIG = FitConfig(steps=STAIRS.steps, optimizer="adam", lr=1e-3, lr_schedule="constant", weight_decay=0.0,
                   log_every=1, eval_every=25, progress=False, seed=3)


def test_the_variable_reads_one_or_zero(monkeypatch):
    monkeypatch.setenv(profiles.SMOKE_VAR, "1")
    assert profiles.smoke_enabled()
    monkeypatch.setenv(profiles.SMOKE_VAR, "0")
    assert not profiles.smoke_enabled()
    monkeypatch.setenv(profiles.SMOKE_VAR, "yes")
    with pytest.raises(ValueError, match="JESSL_SMOKE"):
        profiles.smoke_enabled()


def test_pick_uses_the_smoke_value_only_in_the_full_profile_under_smoke(monkeypatch, smoke):
    monkeypatch.setenv(profiles.ENV_VAR, "full")
    run = profiles.choose_profile(verbose=False)
    assert run.smoke and run.name == "full" and "smoke" in run.reason
    assert run.pick(quick=1, full=2, smoke=3) == 3
    assert run.pick(quick=1, full=2) == 2  # no smoke value: the full one
    monkeypatch.setenv(profiles.ENV_VAR, "quick")
    assert profiles.choose_profile(verbose=False).pick(quick=1, full=2, smoke=3) == 1
    plain = profiles.Profile("full", torch.device("cpu"), "test")
    assert plain.pick(quick=1, full=2, smoke=3) == 2


def test_limit_keeps_a_fixed_subset_under_smoke_only():
    data = ImageData((torch.arange(1000) % 251).to(torch.uint8).view(1000, 1, 1, 1), torch.arange(1000) % 10,
                     tuple("0123456789"), "numbers")
    smoked = profiles.Profile("full", torch.device("cpu"), "test", smoke=True)
    small = smoked.limit(data)
    assert len(small) == profiles.SMOKE_EXAMPLES
    assert torch.equal(small.labels, smoked.limit(data).labels)  # the same subset every time
    assert len(smoked.limit(data, 2000)) == 1000
    assert profiles.Profile("full", torch.device("cpu"), "test").limit(data) is data
    with pytest.raises(TypeError, match="data"):
        smoked.limit(torch.zeros(3))


def test_claims_fail_quick_runs_and_are_notes_in_full_runs(capsys):
    quick = profiles.Profile("quick", torch.device("cpu"), "test")
    assert quick.claim(True, "a true claim")
    with pytest.raises(AssertionError, match="the text claims: x > y"):
        quick.claim(False, "x > y")
    full = profiles.Profile("full", torch.device("cpu"), "test")
    assert not full.claim(False, "x > y")
    assert "x > y" in capsys.readouterr().out
    smoked = profiles.Profile("full", torch.device("cpu"), "test", smoke=True)
    assert not smoked.claim(False, "x > y")
    assert capsys.readouterr().out == ""


def test_smoke_steps(smoke):
    assert profiles.smoke_steps(1000) == profiles.SMOKE_STEPS
    assert profiles.smoke_steps(3) == 3


def test_fit_under_smoke_stops_early_and_treats_the_stop_as_the_end(smoke, tmp_path):
    seen = []

    def hook(method, step):
        seen.append(step)
        return {"calls": float(len(seen))}

    record = fit(_objective(), STAIRS.sample, None, CONFIG.replace(checkpoint_dir=str(tmp_path)), hooks=[hook])
    n = profiles.SMOKE_STEPS
    assert record.steps == n and record.curves["step"] == list(range(n))
    assert seen == [0, n]  # the start, and the smoke run's last step (eval_every=25 never came)
    assert (tmp_path / "smoke" / "checkpoint.pt").is_file() and not (tmp_path / "checkpoint.pt").exists()


def test_fit_under_smoke_runs_the_same_first_steps(monkeypatch, tmp_path):
    # Nothing but sizes change: the first steps of a smoke run are those of the real run.
    monkeypatch.delenv(profiles.SMOKE_VAR, raising=False)
    real = fit(_objective(), STAIRS.sample, None, CONFIG)
    monkeypatch.setenv(profiles.SMOKE_VAR, "1")
    smoked = fit(_objective(), STAIRS.sample, None, CONFIG)
    n = profiles.SMOKE_STEPS
    assert smoked.curves["loss"] == real.curves["loss"][:n]


def test_fit_under_smoke_caps_the_batch(smoke):
    images = torch.randint(0, 256, (200, 1, 8, 8), dtype=torch.uint8)
    data = ImageData(images, torch.zeros(200, dtype=torch.long), ("one",), "noise")
    seen = []

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def loss(self, v1, v2):
            seen.append(v1.shape[0])
            return self.w * (v1 - v2).pow(2).mean(), {}

    fit(Probe(), data, lambda x, g: (x.float(), x.float()), FitConfig(steps=3, batch_size=128, progress=False))
    assert seen == [profiles.SMOKE_BATCH] * 3


@pytest.mark.book
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_chapters_student_version_runs_its_full_profile_under_smoke(path, monkeypatch):
    """The student version (``python -m jessl_lite.exercises strip``, written to ``_build/student/``
    as CI's copy to hand out) runs top to bottom in the full profile under the smoke setting, and
    each of its exercises' checkers reports "not answered yet" instead of failing."""
    monkeypatch.setenv(profiles.ENV_VAR, "full")
    monkeypatch.setenv(profiles.SMOKE_VAR, "1")
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    student = ROOT / "_build" / "student" / path.name
    student.parent.mkdir(parents=True, exist_ok=True)
    _main(["strip", str(path), str(student), "--force"])
    nb = nbformat.read(student, as_version=4)
    assert not any("solution" in cell.metadata.get("tags", []) for cell in nb.cells)
    # Run where the chapter runs (notebooks/), so that relative paths mean the same.
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # a failing cell raises CellExecutionError, naming the cell and the error
    text = "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")
    assert "smoke setting" in text, "the chapter did not choose its profile through choose_profile"
    chapter = str(int(path.stem.split("_")[0]))
    keys = sorted(k for k in [*EXERCISES, *CODING_EXERCISES] if k.split(".")[0] == chapter)
    assert len(keys) >= 4, f"chapter {chapter} has {len(keys)} exercises; every chapter has at least 4"
    assert any(k in CODING_EXERCISES for k in keys), f"chapter {chapter} has no coding exercise"
    for key in keys:
        assert f"Exercise {key}: not answered yet" in text, f"exercise {key}'s checker did not report itself unanswered"
    assert not re.search(r"^Exercise \S+: correct", text, re.M), "a checker accepted an answer nobody gave"


def test_reference_runs_refuse_the_smoke_setting(smoke, tmp_path):
    from jessl_lite import reference

    with pytest.raises(ValueError, match="JESSL_SMOKE"):
        reference.run("ch02/separable", ["separable-infonce"], [0], records_root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_adversarial_loop_is_shortened_too(smoke):
    from jessl_lite.experiments.infomax import mlp_encoder, train_adversarial

    images = torch.randint(0, 256, (64, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    data = ImageData(images, torch.arange(64) % 10, tuple("0123456789"), "noise")
    torch.manual_seed(0)
    record = train_adversarial(mlp_encoder(), data, data, data, steps=50, batch_size=16, warmup_steps=30, evals=2,
                               classifier_steps=1)
    # The record's steps: the warm-up's and the encoder's, each cut to SMOKE_STEPS.
    assert record.steps == 2 * profiles.SMOKE_STEPS
    assert record.metric("probe_accuracy")[0].tolist() == [profiles.SMOKE_STEPS, 2 * profiles.SMOKE_STEPS]
