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
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TypeVar

import torch

from .validation import check_bool, check_choice, check_device, check_str

__all__ = ["PROFILES", "ENV_VAR", "Profile", "choose_profile", "choose_device"]

PROFILES = ("quick", "full")
ENV_VAR = "JESSL_PROFILE"

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

    def __post_init__(self) -> None:
        check_choice(self.name, "name", PROFILES)
        if not isinstance(self.device, torch.device):
            raise TypeError(f"device must be a torch.device (choose_device() gives one); got {self.device!r}")
        check_str(self.reason, "reason")

    @property
    def is_quick(self) -> bool:
        return self.name == "quick"

    def pick(self, *, quick: T, full: T) -> T:
        """The value for this profile: ``run.pick(quick=200, full=5000)``."""
        return quick if self.is_quick else full


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
    if env:
        name, why = env, f"forced by {ENV_VAR}={env}"
    elif profile is not None:
        name, why = profile, "set in the parameters cell"
    elif dev.type == "cuda":
        name, why = "full", f"a GPU was found ({torch.cuda.get_device_name(dev)})"
    else:
        name, why = "quick", "no CUDA GPU was found"
    reason = f"profile '{name}' ({why}); device {dev}"
    if name == "full" and dev.type == "cpu":
        reason += " (warning: the full profile on a CPU takes hours)"
    if dev.type != "cuda" and _in_colab():
        reason += ". For the full profile in Colab: Runtime > Change runtime type > T4 GPU, then rerun."
    if verbose:
        print(reason)
    return Profile(name=name, device=dev, reason=reason)


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
