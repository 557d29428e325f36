"""The package as people install it: an sdist and a wheel built from the checkout's files, the
wheel installed (not editable) into a folder of its own, and the `studio` command run from a
folder outside the checkout with only that copy importable. It must carry every shipped scene
and the page's assets, and a classic shoot must work.

Cheap on purpose: the wheel is built with the setuptools already here (no build isolation, no
download) and installed with `pip install --no-deps --target`, reusing this environment's
dependencies instead of creating a venv (a second or two in all, plus the shoot)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import studio

ROOT = Path(__file__).resolve().parent.parent
# what a clean checkout gives the build (tests/, bench/, docs/ are not part of the package)
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "studio", "scenes", "assets")
DIST_NAME = "studio-product-photo"


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def build(fn: str, source: Path, out: Path) -> Path:
    """setuptools' PEP 517 hook, as `python -m build` calls it."""
    name = run([sys.executable, "-c", f"from setuptools import build_meta as b; print(b.{fn}({str(out)!r}))"],
               cwd=source).strip().splitlines()[-1]
    return out / name


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from an sdist built from a copy of the checkout, installed with --target."""
    base = tmp_path_factory.mktemp("package")
    checkout = base / "checkout"
    checkout.mkdir()
    for name in BUILD_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, checkout / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_shipped"))
        else:
            shutil.copy2(src, checkout / name)
    dist = base / "dist"
    dist.mkdir()
    sdist = build("build_sdist", checkout, dist)
    with tarfile.open(sdist) as tar:
        # our own sdist; the "data" filter where this Python has it (3.11.4 on)
        tar.extractall(base / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    wheel = build("build_wheel", next((base / "unpacked").iterdir()), dist)
    assert wheel.name.startswith(DIST_NAME.replace("-", "_") + f"-{studio.__version__}-")
    target = base / "site"
    run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target),
         str(wheel)], cwd=base)
    return target


def studio_command(target: Path, *args: str, cwd: Path) -> str:
    """The installed console script, run from `cwd` with only the installed copy of studio importable:
    PYTHONPATH puts it ahead of this environment's (editable) one, which is checked below."""
    env = {**os.environ, "PYTHONPATH": str(target), "STUDIO_HOME": str(cwd / "home")}
    return run([str(target / "bin" / "studio"), *args], cwd=cwd, env=env)


@pytest.mark.slow
def test_the_installed_wheel_has_every_scene_and_asset_and_shoots(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed)}
    where = run([sys.executable, "-c", "import studio, studio.shipped as s; print(studio.__file__); "
                 "print(s.shipped_dir('scenes')); print(s.shipped_dir('assets'))"], cwd=elsewhere, env=env).split()
    assert all(Path(p).is_relative_to(installed) for p in where), where  # not the checkout's copy

    assert studio_command(installed, "--version", cwd=elsewhere).strip() == f"Studio {studio.__version__}"

    scenes = json.loads(studio_command(installed, "scenes", "--json", cwd=elsewhere))
    shipped = sorted(p.stem for p in (ROOT / "scenes").glob("*.toml"))
    assert len(shipped) >= 16 and sorted(s["id"] for s in scenes) == shipped
    assert all(Path(s["source"]).is_relative_to(installed) for s in scenes)
    for asset in (ROOT / "assets").iterdir():
        assert (Path(where[2]) / asset.name).read_bytes() == asset.read_bytes()

    photo = elsewhere / "mug.png"
    shutil.copyfile(Path(__import__("skimage").data.__path__[0]) / "coffee.png", photo)
    shot = json.loads(studio_command(installed, "shoot", "mug.png", "--out", "out", "--scene", "marble",
                                     "--variants", "1", "--engine", "classic", "--backend", "classic",
                                     "--long-side", "512", "--json", cwd=elsewhere))
    assert shot[0]["status"] == "done" and shot[0]["scene"] == "marble"
    assert all((elsewhere / f).stat().st_size > 10_000 for f in shot[0]["files"])
