"""Profile and device choice: environment override, argument, hardware default."""

from __future__ import annotations

import sys

import pytest
import torch

from jessl_lite import profiles


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)


def test_argument_picks_profile_without_env(no_env):
    run = profiles.choose_profile("full", device="cpu", verbose=False)
    assert run.name == "full" and not run.is_quick
    assert run.pick(quick=1, full=2) == 2
    assert "parameters cell" in run.reason
    assert "takes hours" in run.reason  # full on a CPU is allowed but flagged


def test_environment_variable_overrides_argument(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "quick")
    run = profiles.choose_profile("full", verbose=False)
    assert run.name == "quick" and run.pick(quick="a", full="b") == "a"
    assert "JESSL_PROFILE" in run.reason


def test_hardware_default(no_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    run = profiles.choose_profile(verbose=False)
    assert run.name == "quick" and run.device == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Tesla T4")
    run = profiles.choose_profile(verbose=False)
    assert run.name == "full" and run.device.type == "cuda" and "Tesla T4" in run.reason


def test_device_order_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert profiles.choose_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profiles.choose_device().type == "cuda"
    assert profiles.choose_device("cpu").type == "cpu"


def test_colab_user_is_told_how_to_get_a_gpu(no_env, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setitem(sys.modules, "google.colab", object())
    profiles.choose_profile()
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1
    assert "Runtime > Change runtime type" in out


def test_bad_profile_names_are_rejected(monkeypatch):
    with pytest.raises(ValueError, match="profile"):
        profiles.choose_profile("fast", verbose=False)
    monkeypatch.setenv(profiles.ENV_VAR, "medium")
    with pytest.raises(ValueError, match="JESSL_PROFILE"):
        profiles.choose_profile(verbose=False)
    with pytest.raises(ValueError, match="prefer"):
        profiles.choose_device("gpu0")
    with pytest.raises(TypeError, match="prefer"):
        profiles.choose_device(3)


def test_a_gpu_this_machine_lacks_is_refused_at_once_naming_the_argument(no_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="prefer='cuda' asks for a CUDA GPU, but none is available"):
        profiles.choose_device("cuda")
    with pytest.raises(ValueError, match="device='mps' asks for Apple's MPS"):
        profiles.choose_profile("quick", device="mps", verbose=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert profiles.choose_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match=r"asks for GPU 3, but this machine has 1 \(cuda:0 to cuda:0\)"):
        profiles.choose_device("cuda:3")


def test_profile_and_verbose_are_checked(no_env):
    with pytest.raises(ValueError, match="profile must be one of 'quick', 'full'"):
        profiles.choose_profile(3, verbose=False)
    with pytest.raises(TypeError, match="verbose must be True or False"):
        profiles.choose_profile("quick", verbose="no")
    with pytest.raises(TypeError, match="device must be a str"):
        profiles.choose_profile("quick", device=0, verbose=False)


def test_a_profile_built_directly_is_checked():
    profiles.Profile("quick", torch.device("cpu"), "test")
    with pytest.raises(ValueError, match="^name must be one of"):
        profiles.Profile("fast", torch.device("cpu"), "test")
    with pytest.raises(TypeError, match="^device must be a torch.device"):
        profiles.Profile("quick", "cuda", "test")
    with pytest.raises(TypeError, match="^reason must be a str"):
        profiles.Profile("quick", torch.device("cpu"), None)
