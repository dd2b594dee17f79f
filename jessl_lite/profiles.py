"""The two run sizes of every chapter, and the device to run on.

``quick`` runs on a CPU in about a minute per chapter: what the book build, CI and the tests
run. ``full`` is the scale a student runs on a GPU (Colab, or any CUDA machine). A profile
picks sizes only (steps, batch, width, data subset), never different code.

The choice, first match wins:

1. the environment variable ``JESSL_PROFILE`` (``quick`` or ``full``), which forces it;
2. the ``profile`` argument (a notebook's parameters cell);
3. ``full`` when a CUDA GPU is present, ``quick`` otherwise.

Example::

    >>> run = choose_profile("quick", verbose=False)
    >>> run.name, run.pick(quick=200, full=5000)
    ('quick', 200)

**The smoke setting.** ``JESSL_SMOKE=1`` beside ``JESSL_PROFILE=full`` runs the full profile's
code (its models, data sets, methods and cells) on a CPU in a few minutes, so that no line of
a student's GPU run is one that nobody ran: CI does this for every chapter. It caps sizes and
nothing else:

* every training loop (:func:`jessl_lite.train.fit`, and the chapters' own loops through
  :func:`smoke_steps`) stops after :data:`SMOKE_STEPS` optimizer steps of the full schedule,
  and treats that step as its last (final evaluation and checkpoint; checkpoints go to a
  ``smoke/`` subfolder, so a real run never resumes from one); ``fit`` also caps the batch at
  :data:`SMOKE_BATCH`;
* :meth:`Profile.limit` keeps :data:`SMOKE_EXAMPLES` examples of a data set;
* :meth:`Profile.pick`'s ``smoke=`` value, where a chapter gives one, replaces the full value:
  chapters give it for sizes only (batch sizes, sample counts, label counts).

Numbers computed under it mean nothing; the chapters' claims about trained models are checked
only in the quick profile (:meth:`Profile.claim`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TypeVar

import torch

from .validation import check_bool, check_choice, check_device, check_int, check_str

__all__ = ["PROFILES", "ENV_VAR", "SMOKE_VAR", "SMOKE_STEPS", "SMOKE_EXAMPLES", "SMOKE_BATCH", "Profile",
           "choose_profile", "choose_device", "smoke_enabled", "smoke_steps"]

PROFILES = ("quick", "full")
ENV_VAR = "JESSL_PROFILE"

#: The environment variable of the smoke setting (``1`` on, ``0`` or unset off).
SMOKE_VAR = "JESSL_SMOKE"
#: Optimizer steps of every training loop under the smoke setting.
SMOKE_STEPS = 5
#: Examples that :meth:`Profile.limit` keeps of a data set under the smoke setting.
SMOKE_EXAMPLES = 256
#: The largest batch :func:`jessl_lite.train.fit` takes under the smoke setting.
SMOKE_BATCH = 16

_UNSET = object()

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """A chosen profile and device.

    Attributes:
        name: ``"quick"`` or ``"full"``.
        device: where tensors and models go.
        reason: one line saying why this profile and device were chosen.
    """

    name: str
    device: torch.device
    reason: str
    smoke: bool = False

    def __post_init__(self) -> None:
        check_choice(self.name, "name", PROFILES)
        if not isinstance(self.device, torch.device):
            raise TypeError(f"device must be a torch.device (choose_device() gives one); got {self.device!r}")
        check_str(self.reason, "reason")
        check_bool(self.smoke, "smoke")

    @property
    def is_quick(self) -> bool:
        return self.name == "quick"

    def pick(self, *, quick: T, full: T, smoke: T = _UNSET) -> T:
        """The value for this profile: ``run.pick(quick=200, full=5000)``.

        ``smoke``, if given, is the value under the smoke setting (a size small enough for a CPU,
        in place of the full one; see the module docstring)."""
        if self.is_quick:
            return quick
        return smoke if self.smoke and smoke is not _UNSET else full

    def limit(self, data, n: int = SMOKE_EXAMPLES):
        """``data`` itself, or under the smoke setting a fixed random subset of ``n`` of its examples.

        ``data``: an :class:`~jessl_lite.data.ImageData`."""
        from .data import ImageData

        check_int(n, "n", minimum=1)
        if not isinstance(data, ImageData):
            raise TypeError(f"data must be an ImageData (load_mnist, load_cifar10); got {type(data).__name__}")
        if not self.smoke or len(data) <= n:
            return data
        return data.split([n], seed=0)[0]

    def claim(self, condition: bool, claim: str) -> bool:
        """Check a claim the text makes about this run's results.

        In the quick profile (whose numbers the page shows) a false claim is an ``AssertionError``;
        in the full profile it is a printed note (the text was written from the quick and the
        reference runs, and a full run may differ), and under the smoke setting it is not checked.
        Returns ``condition``."""
        check_str(claim, "claim", nonempty=True)
        holds = bool(condition)
        if self.is_quick:
            if not holds:
                raise AssertionError(f"the text claims: {claim}; this run does not show it")
        elif not holds and not self.smoke:
            print(f"Note: the text claims {claim}; this {self.name}-profile run does not show it.")
        return holds


def choose_device(prefer: str | torch.device | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    Args:
        prefer: force a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); ``None``
            picks automatically.

    Raises:
        ValueError: ``prefer`` is not a device name, or names a GPU this machine does not have
            (said here, rather than by the first tensor moved there).
    """
    return _device(prefer, "prefer")


def choose_profile(
    profile: str | None = None,
    *,
    device: str | torch.device | None = None,
    verbose: bool = True,
) -> Profile:
    """Pick the profile and the device for a chapter (see the module docstring for the order).

    Args:
        profile: ``"quick"``, ``"full"`` or ``None`` (automatic).
        device: force a device; ``None`` picks CUDA > MPS > CPU.
        verbose: print the one-line reason (and, in Colab without a GPU, how to get one).

    Raises:
        ValueError: ``profile`` or ``JESSL_PROFILE`` is not ``quick``/``full``.
    """
    if profile is not None:
        check_choice(profile, "profile", PROFILES)
    check_bool(verbose, "verbose")
    env = os.environ.get(ENV_VAR, "").strip()
    if env and env not in PROFILES:
        raise ValueError(f"the environment variable {ENV_VAR} must be 'quick' or 'full'; got {env!r}")
    dev = _device(device, "device")
    smoke = smoke_enabled()
    if env:
        name, why = env, f"forced by {ENV_VAR}={env}"
    elif profile is not None:
        name, why = profile, "set in the parameters cell"
    elif dev.type == "cuda":
        name, why = "full", f"a GPU was found ({torch.cuda.get_device_name(dev)})"
    else:
        name, why = "quick", "no CUDA GPU was found"
    reason = f"profile '{name}' ({why}); device {dev}"
    if smoke:
        reason += f"; smoke setting ({SMOKE_VAR}=1): at most {SMOKE_STEPS} steps per run, sizes capped"
    elif name == "full" and dev.type == "cpu":
        reason += " (warning: the full profile on a CPU takes hours)"
    if dev.type != "cuda" and _in_colab():
        reason += ". For the full profile in Colab: Runtime > Change runtime type > T4 GPU, then rerun."
    if verbose:
        print(reason)
    return Profile(name=name, device=dev, reason=reason, smoke=smoke)


def smoke_enabled() -> bool:
    """Whether the smoke setting is on: the environment variable ``JESSL_SMOKE`` is ``1``.

    Raises:
        ValueError: ``JESSL_SMOKE`` is set to something other than ``0``, ``1`` or nothing.
    """
    raw = os.environ.get(SMOKE_VAR, "").strip()
    if raw not in ("", "0", "1"):
        raise ValueError(f"the environment variable {SMOKE_VAR} must be '1' (on) or '0' (off); got {raw!r}")
    return raw == "1"


def smoke_steps(steps: int) -> int:
    """``steps``, or :data:`SMOKE_STEPS` if fewer under the smoke setting: the length of a training loop."""
    check_int(steps, "steps", minimum=0)
    return min(steps, SMOKE_STEPS) if smoke_enabled() else steps


def _device(prefer, name: str) -> torch.device:
    # choose_device(prefer=...) and choose_profile(device=...): the message names the caller's argument.
    if prefer is not None:
        return check_device(prefer, name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _in_colab() -> bool:
    return "google.colab" in sys.modules
