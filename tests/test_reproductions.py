"""The reproductions page's rows: verdict words, per-seed summaries, and the tables the chapters glue."""

from __future__ import annotations

import pytest

from jessl_lite import reference, reproductions
from jessl_lite.reproductions import VERDICTS, claim, claims_table, correction, corrections_table, seeds, verdict


def test_verdict_of_the_parts_of_a_claim():
    above = reference.compare([0.9, 0.92, 0.91], [0.85, 0.88, 0.86])  # every seed above: holds
    overlap = reference.compare([0.9, 0.80, 0.91], [0.85, 0.88, 0.86])
    below = reference.compare([0.8, 0.81], [0.85, 0.88])
    assert (above["verdict"], overlap["verdict"], below["verdict"]) == ("holds", "unresolved", "reversed")
    assert verdict([above]) == "holds" and verdict([above, True, "holds"]) == "holds"
    assert verdict([above, overlap]) == "holds in part"
    assert verdict([overlap, below, False]) == "does not hold"
    with pytest.raises(ValueError, match="parts"):
        verdict([])
    with pytest.raises(ValueError, match=r"parts\[1\]"):
        verdict([True, "maybe"])
    with pytest.raises(TypeError, match="parts"):
        verdict("holds")


def test_seeds_prints_mean_and_range():
    assert seeds([1.0, 2.0, 6.0]) == "3.000 (1.000 to 6.000; 3 seeds)"
    assert seeds([0.778, 0.80, 0.80], percent=True) == "79.3% (77.8 to 80.0; 3 seeds)"
    assert seeds([-0.5], ".2f", unit=" nats") == "-0.50 nats (one run)"
    with pytest.raises(ValueError, match="values"):
        seeds([1.0, float("nan")])
    with pytest.raises(TypeError, match="values"):
        seeds([True, 0.5])


def test_tables_keep_the_rows_in_order_and_refuse_other_verdicts():
    rows = [claim(f"claim {v}", "a paper", "1.0", "exact", v) for v in VERDICTS]
    table = claims_table(rows)
    assert list(table.index) == [f"claim {v}" for v in VERDICTS]
    assert list(table.columns) == ["source", "source's number", "ours", "scale", "verdict"]
    header = table._repr_html_().split("<thead>")[1].split("</thead>")[0]
    assert header.count("<tr") == 1 and "<th>claim</th>" in header, "the header is one row, named in its corner"
    assert list(table["verdict"]) == list(VERDICTS) and set(table["source's number"]) == {"not given"}
    with pytest.raises(ValueError, match="verdict"):
        claim("c", "s", "o", "x", "reversed")  # compare()'s word, not a verdict of this page
    with pytest.raises(TypeError, match="text must be a non-empty str"):
        claim("", "s", "o", "x", "holds")
    fixes = corrections_table([correction("a formula", "a post", "a sign", "-1.0", "1.0")])
    assert fixes.loc["a formula", "computed correctly"] == "1.0"
    with pytest.raises(ValueError, match=r"rows\[0\]"):
        claims_table([{"claim": "no other columns"}])
    with pytest.raises(ValueError, match="rows"):
        corrections_table([])


def test_the_docstring_examples_run():
    import doctest

    failures, tried = doctest.testmod(reproductions)
    assert tried >= 2 and failures == 0


def test_scale_reads_steps_batches_and_seeds_from_the_records():
    records = [r for runs in reference.load("ch05/adversarial").values() for r in runs]
    text = reproductions.scale("ch05/adversarial", "MNIST-60k halves")
    assert text.startswith("MNIST-60k halves; ") and f"{records[0].steps:,} steps at batch 128" in text
    assert f"3 seeds per arm ({len(records)} records of ch05/adversarial)" in text
    assert "batch" not in reproductions.scale("ch02/separable", "Gaussians", show_batch=False)
    with pytest.raises(ValueError, match="experiment"):
        reproductions.scale("ch99/none", "x")


def test_glue_tables_glues_both_tables_with_no_cell_cut(monkeypatch):
    import jessl_lite.plots

    glued = {}
    monkeypatch.setattr(jessl_lite.plots, "glue", lambda name, value: glued.update({name: value._repr_html_()}))
    long = "a number with a long explanation " * 4  # 132 characters; pandas cuts at 50 by default
    reproductions.glue_tables([claim("c", "s", long, "exact", "holds")],
                              [correction("f", "s", "w", long, "1.0")])
    assert set(glued) == {"reproductions", "corrections"}
    assert all(long.strip() in html for html in glued.values())
    glued.clear()
    reproductions.glue_tables([claim("c", "s", "o", "exact", "holds")])
    assert set(glued) == {"reproductions"}
