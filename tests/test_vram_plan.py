from __future__ import annotations

import json

import pytest

from studio import cli
from studio.models.devices import CPU_PLAN, Card, PlanMemory
from studio.models.devices import choose_plan as choose_any_plan
from studio.models.devices import tighter as tighter_of
from studio.models.generate_flux import PLANS


def choose_plan(card, canvas_px=1024 * 1024, exclude=None):
    return choose_any_plan(card, PLANS, canvas_px, exclude)


def tighter(plan):
    return tighter_of(plan, PLANS)


def card(gb: float, cap=(8, 9), name=None) -> Card:
    return Card(name or f"Test GPU {gb:g} GB", gb, gb - 0.5, cap)


@pytest.fixture
def with_bitsandbytes(monkeypatch):
    """As if the quant extra were installed (the launcher installs it for cards under 24 GB)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "bitsandbytes" else real(name, *a))


# minimums follow the measured peaks (fp8 layerwise + model offload: 15.6 GB), so a 16 GB card
# (15 GB usable) takes NF4; 8 GB cards stream an fp8 transformer in groups (no bitsandbytes needed)
@pytest.mark.parametrize("gb,plan_id,quant,offload", [
    (80, "bf16-resident", None, None),
    (48, "bf16-resident", None, None),
    (24, "fp8-model-offload", "fp8-layerwise", "model"),
    (16, "nf4-model-offload", "nf4", "model"),
    (12, "nf4-model-offload", "nf4", "model"),
    (8, "fp8-group-offload", "fp8-layerwise", "group"),
])
def test_plan_per_card(with_bitsandbytes, gb, plan_id, quant, offload):
    plan = choose_plan(card(gb))
    assert (plan.id, plan.quantization, plan.offload) == (plan_id, quant, offload)
    assert plan.precision == "bf16"
    if offload:
        assert plan.text_encoders == "offloaded"


def test_no_gpu_and_old_gpus():
    assert choose_plan(None) == CPU_PLAN
    assert choose_plan(card(24, cap=(7, 5))) is None  # Turing has no bf16, and FLUX.1 in fp16 makes black images
    tiny = choose_plan(card(2))
    assert tiny.id == "sequential-offload" and "below its minimum" in tiny.note


def test_large_canvas_needs_more_and_tiles_the_vae():
    assert choose_plan(card(33)).id == "bf16-resident"
    big = choose_plan(card(33), canvas_px=2048 * 2048)
    assert big.id == "bf16-model-offload" and big.vae_tiling


def test_oom_falls_back_and_is_remembered_per_card(with_bitsandbytes, tmp_path):
    mem = PlanMemory(tmp_path / "plans.json")
    c = card(24, name="RTX 4090")
    plan = mem.plan_for(c, PLANS)
    assert plan.id == "fp8-model-offload"
    nxt = mem.remember_oom(c, plan, PLANS)
    assert nxt.id == "nf4-model-offload" == tighter(plan).id
    # a new session on the same card starts on the tighter plan; another card is unaffected
    assert PlanMemory(tmp_path / "plans.json").plan_for(c, PLANS).id == "nf4-model-offload"
    assert mem.plan_for(card(24, name="RTX 3090"), PLANS).id == "fp8-model-offload"
    assert json.loads((tmp_path / "plans.json").read_text()) == {"RTX 4090": ["fp8-model-offload"]}
    last = choose_plan(c, exclude={"bf16-resident", "bf16-model-offload", "fp8-model-offload", "nf4-model-offload",
                                   "fp8-group-offload"})
    assert last.id == "sequential-offload" and tighter(last) is None


def test_models_command_lists_registry_and_plan(capsys):
    assert cli.main(["models", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    ids = {m["repo_id"]: m for m in report["models"]}
    assert {"black-forest-labs/FLUX.1-Fill-dev", "briaai/RMBG-2.0",
            "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"} <= set(ids)
    assert not any(m["installed"] for m in report["models"])
    assert report["card"] is None and report["plan"]["id"] == "cpu"


def test_download_when_offline_says_so(capsys):
    # conftest sets HF_HUB_OFFLINE=1: nothing may be fetched, and the message says what to do
    assert cli.main(["models", "download", "flux-fill-dev"]) == 2
    err = capsys.readouterr().err
    assert "offline" in err and "FLUX.1-Fill-dev" in err
    assert cli.main(["models", "download", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


# -- cards the torch build has no kernels for ---------------------------------------

CU130_ARCHES = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]
CU126_ARCHES = ["sm_50", "sm_60", "sm_61", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]


@pytest.mark.parametrize("cap,arches,ok", [
    ((6, 1), CU130_ARCHES, False),  # GTX 1080 under cu130: "no kernel image"
    ((7, 0), CU130_ARCHES, False),  # V100
    ((6, 1), CU126_ARCHES, True),
    ((8, 9), CU130_ARCHES, True),  # Ada runs Ampere's sm_86 kernels
    ((12, 1), CU130_ARCHES, True),  # and a newer card the PTX
    ((12, 0), CU126_ARCHES, False),
    ((9, 0), ["sm_90a"], True),
])
def test_kernels_for_a_card(cap, arches, ok):
    from studio.models.devices import has_kernels

    assert has_kernels(cap, arches) is ok


def test_a_card_without_kernels_is_no_gpu_and_the_log_says_what_to_reinstall(monkeypatch, caplog):
    """A simulated GTX 1080 on a cu130 build: torch says CUDA is available, Studio
    plans for the CPU and logs one line naming the card and the fix."""
    import torch

    from studio.models import devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: (6, 1))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA GeForce GTX 1080")
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: CU130_ARCHES)
    devices._NO_KERNELS_SAID.clear()
    with caplog.at_level("WARNING", logger="studio"):
        assert devices.detect_card() is None
        assert devices.torch_device() == "cpu"
    said = [r.getMessage() for r in caplog.records if "GTX 1080" in r.getMessage()]
    assert len(said) == 1 and "6.1" in said[0] and "launcher.py setup" in said[0] and "cu126" in said[0]
