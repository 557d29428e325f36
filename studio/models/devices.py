"""The GPU, and the VRAM plan: how a big diffusion model is placed on this card.

Plans go from roomiest to tightest. `choose_plan` takes the first that fits the
card (leaving headroom for the desktop and activations) and that has not already
run out of memory on this card; `remember_oom` records such a failure so the next
shot starts on the tighter plan straight away.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

HEADROOM_GB = 1.0  # the desktop, the browser and CUDA's own context


def torch_device(prefer: str | None = None) -> str:
    import torch

    if prefer:
        return prefer
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@dataclass(frozen=True)
class Card:
    name: str
    total_gb: float
    free_gb: float
    capability: tuple[int, int]  # CUDA compute capability


@dataclass(frozen=True)
class Plan:
    id: str
    precision: str  # "bf16" | "fp16" | "fp32"
    quantization: str | None  # None | "fp8-layerwise" | "nf4"
    offload: str | None  # None | "model" | "group" | "sequential"
    text_encoders: str  # "gpu" (resident) | "offloaded" (moved off the GPU between prompts)
    vae_tiling: bool
    min_vram_gb: float  # what the backend's model needs at 1024²
    note: str

    def as_dict(self) -> dict:
        return asdict(self)


CPU_PLAN = Plan("cpu", "fp32", None, None, "gpu", True, 0.0, "no CUDA GPU: runs on the CPU (minutes per step)")


def detect_card() -> Card | None:
    """The first CUDA GPU, or None. Imports torch: call it only where a model is wanted."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    free, total = torch.cuda.mem_get_info(0)
    return Card(props.name, total / 1024**3, free / 1024**3, (props.major, props.minor))


def choose_plan(card: Card | None, plans: tuple[Plan, ...], canvas_px: int = 1024 * 1024,
                exclude: set[str] | None = None) -> Plan:
    """The roomiest of a backend's `plans` that fits `card`, skipping those in
    `exclude` (known to OOM)."""
    if card is None:
        return CPU_PLAN
    exclude = exclude or set()
    usable = card.total_gb - HEADROOM_GB
    # larger canvases need more activation memory; 1 GB per extra megapixel is a fair rule
    usable -= max(0.0, canvas_px / 1e6 - 1.05)
    precision = "bf16" if card.capability >= (8, 0) else "fp16"  # bf16 needs Ampere or newer
    for plan in plans:
        if plan.id in exclude or plan.min_vram_gb > usable:
            continue
        tiling = plan.vae_tiling or canvas_px > 1.6e6
        return Plan(plan.id, precision, plan.quantization, plan.offload, plan.text_encoders, tiling,
                    plan.min_vram_gb, plan.note)
    last = plans[-1]
    return Plan(last.id, precision, last.quantization, last.offload, last.text_encoders, True, last.min_vram_gb,
                last.note + " (this card is below its minimum; expect out-of-memory)")


def tighter(plan: Plan, plans: tuple[Plan, ...]) -> Plan | None:
    """The next tighter of `plans`, for a retry after CUDA ran out of memory."""
    ids = [p.id for p in plans]
    if plan.id not in ids or ids.index(plan.id) == len(ids) - 1:
        return None
    return plans[ids.index(plan.id) + 1]


class PlanMemory:
    """Plans that ran out of memory, per card name, kept in the data dir."""

    def __init__(self, path: Path | None = None):
        if path is None:
            from studio.config import data_dir

            path = data_dir() / "vram-plans.json"
        self.path = path

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def failed(self, card: Card) -> set[str]:
        return set(self._read().get(card.name, []))

    def remember_oom(self, card: Card, plan: Plan, plans: tuple[Plan, ...]) -> Plan | None:
        data = self._read()
        data[card.name] = sorted(set(data.get(card.name, [])) | {plan.id})
        self.path.write_text(json.dumps(data, indent=2))
        return tighter(plan, plans)

    def plan_for(self, card: Card | None, plans: tuple[Plan, ...], canvas_px: int = 1024 * 1024) -> Plan:
        return choose_plan(card, plans, canvas_px, self.failed(card) if card else set())
