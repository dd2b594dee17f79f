"""Exercise checkers accept the reference and reject near misses; the student-version tool."""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from jessl_lite.exercises import CODING_EXERCISES, EXERCISES, _main, check, strip_solutions

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_reference_passes_and_a_near_miss_fails(key, capsys):
    reference = EXERCISES[key].reference()
    assert all(math.isfinite(v) for v in reference)
    assert check(key, reference)
    off = tuple(v * 1.05 + 0.05 for v in reference)
    assert not check(key, off)
    out = capsys.readouterr().out
    assert "correct" in out and "not yet" in out
    # The checker never prints the reference answer.
    for value in reference:
        assert f"{value:.3f}" not in out.split("not yet")[-1]


def test_chapter_1_references_agree_with_pen_and_paper():
    assert EXERCISES["1.1"].reference()[0] == pytest.approx(1.9375, abs=1e-12)
    h_y_given_x, mi = EXERCISES["1.2"].reference()
    assert h_y_given_x == pytest.approx(1.25, abs=1e-12)
    h_y = -(0.25 * math.log2(0.25) + 2 * 0.375 * math.log2(0.375))
    assert mi == pytest.approx(h_y - 1.25, abs=1e-12)
    assert EXERCISES["1.3"].reference()[0] == pytest.approx(math.sqrt(3) / 2, abs=1e-12)
    assert EXERCISES["1.4"].reference()[0] == pytest.approx(math.log(3), abs=1e-12)


def test_chapter_3_references_agree_with_pen_and_paper():
    # Collapsed values: log(2N - 1), log K, D, 25 (1 - sqrt(1e-4)) for N = 32, K = 100, D = 64.
    assert EXERCISES["3.1"].reference() == pytest.approx((math.log(63), math.log(100), 64.0, 24.75), rel=1e-12)
    # Orthonormal embeddings with identical views: L = log(1 + (2N - 2) e^{-1/tau}), N = 128, tau = 0.5.
    loss = math.log(1 + 254 * math.exp(-2))
    assert EXERCISES["3.3"].reference() == pytest.approx((loss, math.log(255) - loss), rel=1e-12)
    # One dead feature: Barlow Twins charges it 1, VICReg 25 * 0.99 / 3.
    assert EXERCISES["3.4"].reference() == pytest.approx((1.0, 8.25), rel=1e-8)


def test_unanswered_and_malformed_answers(capsys):
    assert not check("1.1", ...)
    assert not check("1.2", 0.5)
    assert not check("1.1", "two")
    out = capsys.readouterr().out
    assert "replace ..." in out and "expected 2 number(s)" in out and "must be numbers" in out
    with pytest.raises(ValueError, match="key"):
        check("99.9", 1.0)


def test_strip_removes_only_solution_cells(tmp_path):
    source = ROOT / "notebooks" / "01_entropy.ipynb"
    target = tmp_path / "student.ipynb"
    subprocess.run(
        [sys.executable, "-m", "jessl_lite.exercises", "strip", str(source), str(target)], check=True, cwd=ROOT
    )
    original = json.loads(source.read_text())
    student = json.loads(target.read_text())
    tagged = [c for c in original["cells"] if "solution" in c["metadata"].get("tags", [])]
    assert len(tagged) >= 6
    assert len(student["cells"]) == len(original["cells"]) - len(tagged)
    assert not any("solution" in c["metadata"].get("tags", []) for c in student["cells"])
    assert any("check(" in "".join(c["source"]) for c in student["cells"])
    with pytest.raises(ValueError, match="notebook"):
        strip_solutions({"no": "cells"})


def run_strip(*args):
    """``python -m jessl_lite.exercises strip ARGS`` in this process (a subprocess would import torch each time)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            _main(["strip", *map(str, args)])
        except SystemExit as exit_:
            code = exit_.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def notebook_with(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def cell(source, tags=None):
    metadata = {} if tags is None else {"tags": tags}
    return {"cell_type": "code", "source": source, "metadata": metadata, "outputs": [], "execution_count": None}


def test_tags_match_exactly_never_by_substring():
    cells = [cell("a", ["solution"]), cell("b", ["no-solution"]), cell("c", ["solutions", "hide-input"]), cell("d")]
    kept = strip_solutions(notebook_with(cells))["cells"]
    assert [c["source"] for c in kept] == ["b", "c", "d"]


@pytest.mark.parametrize("tags", ["solution", "no-solution-here", [["solution"]], {"solution": True}])
def test_tags_that_are_not_a_list_of_strings_are_an_error_naming_the_cell(tags):
    # A string was searched by substring: "no-solution-here" lost its cell, and a list was required anyway.
    with pytest.raises(ValueError, match="notebook cell 1 has metadata.tags"):
        strip_solutions(notebook_with([cell("a"), cell("b", tags)]))


def test_strip_refuses_to_write_onto_its_source(tmp_path):
    source = tmp_path / "chapter.ipynb"
    original = json.dumps(notebook_with([cell("answer = 42", ["solution"]), cell("check()")]))
    source.write_text(original)
    for target in (source, tmp_path / "." / "chapter.ipynb"):
        result = run_strip(source, target)
        assert result.returncode == 2 and "is the source itself" in result.stderr
        assert "Traceback" not in result.stderr
    (tmp_path / "link.ipynb").symlink_to(source)
    result = run_strip(source, tmp_path / "link.ipynb", "--force")
    assert result.returncode == 2 and "is the source itself" in result.stderr
    assert source.read_text() == original  # the solutions are still there


def test_strip_overwrites_only_with_force(tmp_path):
    source, target = tmp_path / "chapter.ipynb", tmp_path / "student.ipynb"
    source.write_text(json.dumps(notebook_with([cell("answer = 42", ["solution"]), cell("check()")])))
    target.write_text("my own notes")
    result = run_strip(source, target)
    assert result.returncode == 2 and "exists; pass --force" in result.stderr
    assert target.read_text() == "my own notes"
    result = run_strip(source, target, "--force")
    assert result.returncode == 0 and "1 solution cell(s) removed" in result.stdout
    assert [c["source"] for c in json.loads(target.read_text())["cells"]] == ["check()"]


def test_strip_errors_are_one_line(tmp_path):
    (tmp_path / "not-a-notebook.ipynb").write_text("{ not json")
    for args, words in [
        ((tmp_path / "missing.ipynb", tmp_path / "out.ipynb"), "is not a file"),
        ((tmp_path / "not-a-notebook.ipynb", tmp_path / "out.ipynb"), "not JSON"),
        ((tmp_path / "not-a-notebook.ipynb", tmp_path / "nowhere" / "out.ipynb"), "does not exist"),
        ((tmp_path / "not-a-notebook.ipynb", tmp_path), "is a folder"),
    ]:
        result = run_strip(*args)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.ipynb").exists()


def test_booleans_and_strings_are_not_answers(capsys):
    key = sorted(EXERCISES)[0]
    assert not check(key, True)
    assert not check(key, "0.5")
    assert capsys.readouterr().out.count("must be numbers") == 2


def test_an_exercise_built_directly_is_checked():
    from jessl_lite.exercises import Exercise

    Exercise("9.9", "title", lambda: (1.0,))
    with pytest.raises(ValueError, match="^rtol must be"):
        Exercise("9.9", "title", lambda: (1.0,), rtol=math.nan)
    with pytest.raises(TypeError, match="^reference must be callable"):
        Exercise("9.9", "title", (1.0,))
    with pytest.raises(TypeError, match="^key must be a str"):
        Exercise(9.9, "title", lambda: (1.0,))


# --- coding exercises: the student's function against the package's on random inputs ---------


@pytest.mark.parametrize("key", sorted(CODING_EXERCISES))
def test_coding_exercise_accepts_the_package_and_rejects_near_misses_and_stubs(key, capsys):
    ex = CODING_EXERCISES[key]
    assert check(key, ex.reference)
    assert not check(key, lambda *args: ex.reference(*args) * 1.01 + 0.01)

    def stub(*args):
        ...  # a student's function whose body is still the placeholder

    assert not check(key, stub)
    assert not check(key, ...)
    assert not check(key, 1.0)
    out = capsys.readouterr().out
    assert out.count("not answered yet") == 2 and "correct" in out and "not yet" in out
    assert "must be your function" in out


@pytest.mark.parametrize("key", sorted(CODING_EXERCISES))
def test_coding_exercise_inputs_are_reproducible_and_leave_the_global_stream_alone(key):
    inputs = CODING_EXERCISES[key].inputs
    state = torch.random.get_rng_state()
    first, second = inputs(torch.Generator().manual_seed(5)), inputs(torch.Generator().manual_seed(5))
    assert torch.equal(torch.random.get_rng_state(), state)
    for a, b in zip(first, second, strict=True):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b)
        elif isinstance(a, torch.nn.Module):
            assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
        else:
            assert a == b


def test_independent_solutions_pass_the_coding_checkers(capsys):
    # Written from the formulas, not from the package: the checkers accept them.
    def mutual_information(p):
        p = p.numpy()
        px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
        ratio = np.divide(p, px * py, out=np.ones_like(p), where=p > 0)
        return float((p * np.log(ratio)).sum())

    def infonce(scores):
        s = scores.numpy()
        row_max = s.max(1, keepdims=True)
        lse = row_max[:, 0] + np.log(np.exp(s - row_max).sum(1))
        return float(np.log(len(s)) + (np.diag(s) - lse).mean())

    def log_det(layer, x):
        rows = [torch.autograd.functional.jacobian(lambda r: layer(r[None])[0], row) for row in x]
        return torch.stack([torch.linalg.slogdet(j)[1] for j in rows])

    def gaussian_ib(cov_z, cov_z_given_x, beta):
        def h(c):
            m = c.shape[0]
            return 0.5 * (m * math.log(2 * math.pi * math.e) + float(np.linalg.slogdet(c.numpy())[1]))
        return h(cov_z_given_x) + (1 - beta) / beta * h(cov_z)

    for key, fn in (("1.5", mutual_information), ("2.6", infonce), ("5.5", log_det), ("6.5", gaussian_ib)):
        assert check(key, fn), capsys.readouterr().out


def test_the_simsiam_checker_sees_a_missing_stop_gradient(capsys):
    from jessl_lite.losses import simsiam_loss

    assert not check("4.5", lambda p1, p2, z1, z2: simsiam_loss(p1, p2, z1, z2, stop_gradient=False))
    assert "gradient" in capsys.readouterr().out


def test_coding_checker_reports_a_crash_and_a_wrong_shape_without_raising(capsys):
    def crashes(z, kappa):
        raise RuntimeError("my bug")

    assert not check("7.5", crashes)
    assert not check("7.5", lambda z, kappa: torch.zeros(3))
    out = capsys.readouterr().out
    assert "RuntimeError: my bug" in out and "shape" in out
