"""The launcher's decisions, run for real against a throwaway venv folder."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from installer.shortcut import shortcut_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def launcher(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_VENV", str(tmp_path / "venv"))
    sys.path.insert(0, str(ROOT))
    mod = importlib.reload(importlib.import_module("launcher"))
    yield mod
    sys.path.remove(str(ROOT))


def fake_python(mod, exit_code: int) -> None:
    """A stand-in interpreter in the venv that exits with exit_code (as a failing pip would)."""
    py = mod.venv_python()
    py.parent.mkdir(parents=True)
    py.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    py.chmod(0o755)


def test_second_run_skips_install_when_nothing_changed(launcher, capsys, monkeypatch):
    fake_python(launcher, 3)  # any pip call would fail loudly
    from installer.torch_build import choose_torch_build

    build = choose_torch_build("Linux", "x86_64", None)
    monkeypatch.setattr(launcher, "choose_torch_build", lambda *a: build)
    launcher.STAMP.write_text(json.dumps({"key": launcher.install_key(build.key()), "torch": build.key(),
                                          "extras": ["test"]}))
    launcher.setup({"test"})  # returns without installing
    launcher.setup(set())
    assert capsys.readouterr().out == ""


def disk_with_free(monkeypatch, launcher, free: int) -> None:
    monkeypatch.setattr(launcher.shutil, "disk_usage", lambda p: type("Usage", (), {"free": free})())


def test_changed_pyproject_or_extras_reinstalls_and_failure_names_the_log(launcher, capsys, monkeypatch):
    fake_python(launcher, 3)
    launcher.STAMP.write_text(json.dumps({"key": "old", "torch": "x", "extras": []}))
    disk_with_free(monkeypatch, launcher, 10**12)
    with pytest.raises(SystemExit):
        launcher.setup({"test"})
    err = capsys.readouterr().err
    assert err.startswith("studio: install failed while installing torch") and "(pip exit 3)" in err
    assert str(launcher.LOG) in err


def test_low_disk_space_is_one_clear_line(launcher, capsys, monkeypatch):
    disk_with_free(monkeypatch, launcher, 2 * 1024**3)
    with pytest.raises(SystemExit):
        launcher.setup(set())
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not enough disk space: 2.0 GB free" in err[0]


def test_install_key_follows_pyproject_and_torch(launcher):
    assert launcher.install_key("a") != launcher.install_key("b")
    assert launcher.install_key("a") == launcher.install_key("a")


@pytest.mark.parametrize("system,name", [("Linux", "studio.desktop"), ("Darwin", "Studio.command"),
                                         ("Windows", "Studio.lnk")])
def test_shortcut_points_at_the_launcher(system, name):
    fname, text = shortcut_text(system, "/usr/bin/python3", Path("/opt/studio"))
    assert fname == name
    assert "/opt/studio/launcher.py" in text.replace("\\", "/")


def venv_that_records_pip(launcher, monkeypatch, tmp_path) -> Path:
    """A venv python that only writes down the pip calls it gets, on a disk with room to spare."""
    py = launcher.venv_python()
    py.parent.mkdir(parents=True)
    calls = tmp_path / "pip-calls"
    py.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\nexit 0\n")
    py.chmod(0o755)
    disk_with_free(monkeypatch, launcher, 10**12)
    return calls


def test_a_card_under_24gb_gets_bitsandbytes_and_says_so(launcher, capsys, monkeypatch, tmp_path):
    """The 4-bit plans are how 8-16 GB cards run the big models: the install adds the quant extra."""
    calls = venv_that_records_pip(launcher, monkeypatch, tmp_path)
    monkeypatch.setattr(launcher, "detect_nvidia_driver", lambda: "575.57")
    monkeypatch.setattr(launcher, "detect_nvidia_memory_gb", lambda: 16.0)
    launcher.setup(set())
    out = capsys.readouterr().out
    assert "an NVIDIA card with 16 GB: installing bitsandbytes for the 4-bit plans" in out
    assert "install -e .[quant]" in calls.read_text()
    assert json.loads(launcher.STAMP.read_text())["extras"] == ["quant"]
    # a 24 GB card, or no NVIDIA card, does not need it
    for memory in (24.0, None):
        calls.unlink()
        launcher.STAMP.unlink()
        monkeypatch.setattr(launcher, "detect_nvidia_memory_gb", lambda m=memory: m)
        launcher.setup(set())
        assert "[quant]" not in calls.read_text() and "bitsandbytes" not in capsys.readouterr().out


def test_an_install_made_under_the_old_name_is_removed_before_the_new_one(launcher, monkeypatch, tmp_path):
    """The distribution was called `studio` (another project's name on the index): a venv set up then
    would keep both, each owning the `studio` command, so the old one goes first, once."""
    calls = venv_that_records_pip(launcher, monkeypatch, tmp_path)
    from installer.torch_build import choose_torch_build

    build = choose_torch_build("Linux", "x86_64", None)
    monkeypatch.setattr(launcher, "choose_torch_build", lambda *a: build)
    launcher.STAMP.write_text(json.dumps({"key": "before-the-rename", "torch": build.key(), "extras": []}))
    launcher.setup(set())
    lines = calls.read_text().splitlines()
    assert [line.split()[2:4] for line in lines] == [["uninstall", "-y"], ["install", "-e"]]
    assert lines[0].endswith("uninstall -y studio")
    assert json.loads(launcher.STAMP.read_text())["dist"] == "studio-product-photo"
    calls.unlink()
    launcher.STAMP.write_text(json.dumps({**json.loads(launcher.STAMP.read_text()), "key": "pyproject-changed"}))
    launcher.setup(set())
    assert "uninstall" not in calls.read_text()
