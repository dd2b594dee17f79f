"""Checkpoints of :func:`jessl_lite.train.fit`: written atomically, read with clear errors.

A checkpoint is a ``torch.save`` dict that loads with ``weights_only=True``: the step, the model
(with its target networks and buffers), the optimizer, the gradient scaler, every random
generator's state, the epoch's data order, the :class:`~jessl_lite.runs.Run` record so far, and
the run's identity (the configuration fields that decide its numbers, the method, the data's
fingerprint), so that a resumed run can refuse a checkpoint from another run.
"""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import numpy as np
import torch

from .validation import check_generator, check_instance, check_path

__all__ = ["CHECKPOINT_NAME", "CheckpointError", "load_checkpoint", "save_checkpoint", "rng_state",
           "restore_rng_state", "remove_stale_temporaries"]

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 2


class CheckpointError(ValueError):
    """A checkpoint cannot be used: unreadable, or written by a differently configured run."""


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint written by :func:`fit`, loaded with ``weights_only=True`` onto the CPU.

    Raises :class:`CheckpointError` naming the file when it is missing, truncated, empty, not a
    checkpoint, or from an older format; deleting it restarts the run."""
    path = Path(check_path(path, "path"))
    advice = f"delete {path} to start the run over"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, pickle and zip errors for damaged files
        size = path.stat().st_size
        first_line = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        what = "it is empty" if size == 0 else f"it is damaged or not a checkpoint ({type(err).__name__}: {first_line})"
        raise CheckpointError(f"cannot read the checkpoint {path}: {what}; {advice}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a checkpoint of this jessl_lite (format {found!r}, "
                              f"expected {FORMAT}); {advice}")
    missing = {"step", "model", "optimizer", "scaler", "rng", "data_order", "run", "identity"} - set(state)
    if missing:
        raise CheckpointError(f"the checkpoint {path} lacks {sorted(missing)}; {advice}")
    return state


def save_checkpoint(path: Path, contents: dict) -> None:
    """Write ``contents`` (plus the format number) to ``path`` atomically: a kill during the write
    leaves the previous checkpoint or the new one, never half a file; no temporary file is left."""
    path = Path(check_path(path, "path"))
    check_instance(contents, "contents", dict, "a dict (what load_checkpoint returns)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, **contents}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(path: Path) -> None:
    """Half-written checkpoints of killed runs (``.checkpoint.pt.tmpPID``) whose process is gone."""
    path = Path(check_path(path, "path"))
    for tmp in path.parent.glob(f".{path.name}.tmp*"):
        pid = tmp.name.rsplit(".tmp", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _process_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def rng_state(generator: torch.Generator) -> dict:
    """Every random generator a run depends on: torch (CPU, CUDA), Python, numpy, and the views' ``generator``."""
    check_generator(generator, "generator")
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        # weights_only loading accepts tensors, not numpy arrays: store the key as a tensor.
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "views": generator.get_state(),
    }


def restore_rng_state(state: dict, generator: torch.Generator) -> None:
    """The inverse of :func:`rng_state`."""
    check_generator(generator, "generator")
    check_instance(state, "state", dict, "the dict rng_state() returns")
    missing = sorted({"torch", "cuda", "python", "numpy", "views"} - set(state))
    if missing:
        raise ValueError(f"state must be the dict rng_state() returns; it lacks {missing}")
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), cached))
    generator.set_state(state["views"])
