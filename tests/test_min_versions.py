"""The lower bounds in pyproject hold: the oldest allowed versions of the libraries
Studio's model code calls, installed into a scratch folder put first on the path, run
every backend's loader on tiny models (tests/at_minimums.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the libraries whose APIs the model code calls (torch, numpy and Pillow come from the
# environment: their wheels are large and their bounds are the launcher's pair)
CHECKED = ("diffusers", "transformers", "huggingface_hub", "open_clip_torch", "accelerate", "timm", "kornia",
           "einops")
# what pip itself installs with those minimums (transformers 4.51 pins tokenizers 0.21)
WITH = ("tokenizers==0.21.0",)


def minimums() -> list[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = {}
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", dep.split(";")[0].strip())
        if m:
            bounds[m.group(1).lower().replace("-", "_")] = m.group(2)
    return [f"{name}=={bounds[name]}" for name in CHECKED]


def test_the_bounds_name_versions_with_what_the_code_calls():
    pins = dict(p.split("==") for p in minimums())
    assert tuple(int(x) for x in pins["diffusers"].split(".")) >= (0, 38)  # Flux2KleinInpaintPipeline
    assert tuple(int(x) for x in pins["transformers"].split(".")) >= (4, 51)  # Qwen3, klein's text encoder
    assert tuple(int(x) for x in pins["open_clip_torch"].split(".")) >= (3, 0)  # the local-dir: schema


@pytest.mark.slow
def test_every_backend_runs_at_the_lowest_versions_allowed(tmp_path):
    scratch = tmp_path / "minimums"
    pins = minimums()
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(scratch),
                          *pins, *WITH], capture_output=True, text=True, timeout=600)
    if pip.returncode != 0 and "No matching distribution" in pip.stderr:
        pytest.skip(f"the package index has no {pins}: {pip.stderr[-300:]}")
    assert pip.returncode == 0, pip.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(scratch)}
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "at_minimums.py"), *pins], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=600)
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-4000:])
    assert "ran with diffusers 0." in run.stdout
