"""The stored Colab T4 estimate (bench/results/colab_t4_estimate.*, included by the teaching guide)
is what bench/colab_t4_estimate.py computes from the current code: re-run and compared."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "bench" / "results" / "colab_t4_estimate.json"


def test_the_stored_estimate_is_reproduced_by_the_script(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("colab_t4_estimate", ROOT / "bench" / "colab_t4_estimate.py")
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script  # its dataclasses look their module up there
    spec.loader.exec_module(script)
    script.main(["--out", str(tmp_path / "estimate.json")])
    capsys.readouterr()
    stored, now = json.loads(STORED.read_text()), json.loads((tmp_path / "estimate.json").read_text())
    assert now["assumptions"] == stored["assumptions"]
    assert now["resnet18_step_flops"] == stored["resnet18_step_flops"]  # FLOP counts are exact integers
    assert now["rows"] == stored["rows"], "the code changed the estimate: rerun bench/colab_t4_estimate.py"

    def tables(text: str) -> list[str]:  # everything but the closing "Made by ... on <date>" line
        return [line for line in text.splitlines() if not line.startswith("Made by")]

    assert tables((tmp_path / "estimate.md").read_text()) == tables(STORED.with_suffix(".md").read_text())
    # Spot checks of the numbers the teaching guide quotes: GPU chapters take minutes to hours.
    minutes = {}
    for row in now["rows"]:
        minutes[int(row["chapter"])] = minutes.get(int(row["chapter"]), 0.0) + row["minutes"]
    assert minutes[1] < 1 and minutes[6] < 1 and 60 < minutes[3] < 600 and 60 < minutes[4] < 600
