"""The GPU, and the VRAM plan: how a big diffusion model is placed on this card.

Each model backend lists its plans, roomiest to tightest. `choose_plan` takes the
first that can run here: its packages installed (NF4 needs bitsandbytes), its
precision possible on this card (bf16 needs Ampere or newer; a model that turns out
black or NaN in fp16 is not offered in fp16), within the card's memory (leaving
headroom for the desktop and activations), and not known to have run out of memory
on this card (`remember_oom` records that, so the next shot starts on the tighter
plan straight away). `next_plan` is where a failed load or a failed image goes next.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

HEADROOM_GB = 1.0  # the desktop, the browser and CUDA's own context


def has_kernels(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Whether a torch build compiled for `arch_list` (torch.cuda.get_arch_list():
    "sm_86", "sm_90a", "compute_90") runs on a card of this compute capability: a kernel
    for the same major version at or below its minor (binary compatibility), or PTX at
    or below it (compiled for the card when first used)."""
    major, minor = capability
    for arch in arch_list:
        kind, _, digits = arch.partition("_")
        digits = digits.rstrip("af")
        if not digits.isdigit() or len(digits) < 2:
            continue
        a_major, a_minor = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and a_major == major and a_minor <= minor:
            return True
        if kind == "compute" and (a_major, a_minor) <= capability:
            return True
    return False


_NO_KERNELS_SAID: set[str] = set()


def cuda_usable() -> bool:
    """A CUDA GPU this torch build has kernels for. A card it has none for (a GTX 10xx
    under a cu128 build) passes torch.cuda.is_available() and then fails every operation
    with "no kernel image": it is treated as no GPU, and the log says once what to do."""
    import torch

    if not torch.cuda.is_available():
        return False
    capability = torch.cuda.get_device_capability(0)
    arches = torch.cuda.get_arch_list()
    if has_kernels(capability, arches):
        return True
    name = torch.cuda.get_device_name(0)
    if name not in _NO_KERNELS_SAID:
        _NO_KERNELS_SAID.add(name)
        import logging

        logging.getLogger("studio").warning(
            "%s (compute capability %d.%d) is not used: this torch build (CUDA %s) has kernels for %s only. "
            "Run `python launcher.py setup` again: it installs the build for this card (cu126 below sm_75).",
            name, *capability, torch.version.cuda, ", ".join(arches) or "no card")
    return False


def torch_device(prefer: str | None = None) -> str:
    import torch

    if prefer:
        return prefer
    if cuda_usable():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class OnTorchDevice:
    """A local backend's torch device: the one it was given (`_device`), else the best this
    machine has, asked on first use (so constructing a backend imports no torch)."""

    _device: str | None = None

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = torch_device()
        return self._device


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
    min_vram_gb: float  # what the backend's model needs at 1024² (measured peaks where published)
    note: str
    needs: tuple[str, ...] = ()  # Python packages it cannot load without
    fp16_ok: bool = True  # False: the model gives black or NaN images in fp16: never run in it (fp32 instead)

    def as_dict(self) -> dict:
        return asdict(self)

    def missing(self) -> list[str]:
        """Packages the plan needs that are not installed."""
        return [pkg for pkg in self.needs if importlib.util.find_spec(pkg) is None]


CPU_PLAN = Plan("cpu", "fp32", None, None, "gpu", True, 0.0, "no CUDA GPU: runs on the CPU (minutes per step)")


def detect_card() -> Card | None:
    """The first CUDA GPU, or None. Imports torch: call it only where a model is wanted."""
    try:
        import torch
    except ImportError:
        return None
    if not cuda_usable():
        return None
    props = torch.cuda.get_device_properties(0)
    free, total = torch.cuda.mem_get_info(0)
    return Card(props.name, total / 1024**3, free / 1024**3, (props.major, props.minor))


def has_bf16(card: Card) -> bool:
    return card.capability >= (8, 0)  # Ampere or newer


def precision_on(plan: Plan, card: Card) -> str | None:
    """The precision the plan runs in on this card: bf16 where the card has it; else fp16
    for models that hold in it; else (the FLUX family, which overflows to black or NaN in
    fp16) fp32, only for unquantized plans that move whole models off the GPU between
    uses (the weights double in size; layer-by-layer streaming of fp32 weights would take
    hours); None when the plan cannot run here."""
    if has_bf16(card):
        return "bf16"
    if plan.fp16_ok:
        return "fp16"
    if plan.quantization is None and plan.offload == "model":
        return "fp32"
    return None


def vram_needed(plan: Plan, precision: str) -> float:
    return plan.min_vram_gb * (2 if precision == "fp32" else 1)


def runnable(plan: Plan, card: Card) -> bool:
    """Whether the plan can load on this card at all (packages, precision)."""
    return not plan.missing() and precision_on(plan, card) is not None


def choose_plan(card: Card | None, plans: tuple[Plan, ...], canvas_px: int = 1024 * 1024,
                exclude: set[str] | None = None) -> Plan | None:
    """The roomiest of a backend's runnable `plans` that fits `card`, skipping those
    in `exclude` (known to run out of memory here); the tightest runnable one, with a
    warning in its note, when none fits; None when none can run on this card."""
    if card is None:
        return CPU_PLAN
    exclude = exclude or set()
    usable = card.total_gb - HEADROOM_GB
    # larger canvases need more activation memory; 1 GB per extra megapixel is a fair rule
    usable -= max(0.0, canvas_px / 1e6 - 1.05)
    candidates = [p for p in plans if runnable(p, card)]
    if not candidates:
        return None
    for plan in candidates:
        precision = precision_on(plan, card)
        if plan.id in exclude or vram_needed(plan, precision) > usable:
            continue
        note = plan.note if precision == plan.precision else f"{plan.note} (in {precision} on this card)"
        return replace(plan, precision=precision, vae_tiling=plan.vae_tiling or canvas_px > 1.6e6, note=note)
    squeezed = [p for p in candidates if precision_on(p, card) != "fp32"]  # fp32 only where it fits
    if not squeezed:
        return None
    last = squeezed[-1]
    return replace(last, precision=precision_on(last, card), vae_tiling=True,
                   note=last.note + " (this card is below its minimum; expect out-of-memory)")


def tighter(plan: Plan, plans: tuple[Plan, ...], card: Card | None = None, without: str | None = None
            ) -> Plan | None:
    """The next tighter of `plans` after `plan` (for a retry after CUDA ran out of memory
    or the plan failed to load): with a card, only plans that can run on it; with
    `without`, only plans that do not need that package."""
    ids = [p.id for p in plans]
    if plan.id not in ids:
        return None
    for p in plans[ids.index(plan.id) + 1:]:
        if (card is None or runnable(p, card)) and (without is None or without not in p.needs):
            return p
    return None


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
        return tighter(plan, plans, card)

    def plan_for(self, card: Card | None, plans: tuple[Plan, ...], canvas_px: int = 1024 * 1024) -> Plan | None:
        return choose_plan(card, plans, canvas_px, self.failed(card) if card else set())
