"""The small protocols every backend implements, and the facts each one carries.

A backend is one file in `studio/models/` with one class, listed once in the
registry (`studio/models/registry.py`). Segmenters cut a product out of a photo;
generators make a scene around a placed product. Heavy libraries (torch, diffusers,
transformers, open_clip) are imported inside the backend's methods, never at the top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
from PIL import Image

from studio.models.spec import COMMERCIAL_USE, ModelSpec  # noqa: F401 - the backends import them from here
from studio.models.weights import unavailable_reason

if TYPE_CHECKING:
    from studio.imaging.compose import Box
    from studio.models.devices import Card, Plan
    from studio.scenes import Scene


class BackendUnavailable(RuntimeError):
    """The backend can't run here (weights missing, no key, a package absent); the
    message says what to do."""

    for_people = True  # the job records the sentence as it is
    permanent = True  # trying again at once changes nothing (unless a fallback engine is taken)


class PlanFailed(RuntimeError):
    """A local model's VRAM plan did not work here (it failed to load, ran out of memory,
    or made a black or NaN image); `next_plan` is the plan to retry on (None: no other
    plan can help). The message, the reason, goes into the variant's history."""

    for_people = True

    def __init__(self, message: str, next_plan: str | None):
        super().__init__(message)
        self.next_plan = next_plan


class OutOfVram(PlanFailed):
    """The plan ran out of GPU memory."""


class BlankImage(PlanFailed):
    """The generator returned an image that is all black or not finite (what fp16 does to
    some models on cards without bf16)."""


def is_blank(rgb: np.ndarray) -> bool:
    """All black (nothing over 3 of 255), or not finite: no scene, whatever it shows."""
    if rgb.dtype.kind == "f":
        if not np.isfinite(rgb).all():
            return True
        return float(rgb.max()) <= 3 / 255
    return int(rgb.max()) <= 3


# -- segmenters ------------------------------------------------------------------

@dataclass
class Segmentation:
    alpha: np.ndarray  # float32 (H, W) in [0, 1], the photo's own size
    confidence: float  # 0..1; under ~0.6 the UI suggests a touch-up
    backend: str
    notes: list[str] = field(default_factory=list)


class Segmenter(Protocol):
    name: str

    def segment(self, image: Image.Image) -> Segmentation: ...


# -- upscalers -------------------------------------------------------------------

class Upscaler(Protocol):
    """Takes an image to a larger size (super-resolution, or resampling with a detail
    pass when no model is installed)."""

    name: str
    title: str

    def upscale(self, image: Image.Image, size: tuple[int, int]) -> Image.Image: ...


# -- generators ------------------------------------------------------------------

@dataclass
class GenerateRequest:
    """One variant to generate. `canvas`/`mask`/`box` are filled for backends that
    inpaint (`Generator.canvas_multiple` set): the product placed on the scene's canvas,
    and the mask of what to paint (255) and keep (0)."""

    scene: Scene
    cutout: Image.Image  # RGBA, the product (cropped or the full photo)
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int | None = None  # None: the backend's default
    guidance: float | None = None
    strength: float = 0.99
    plan: str | None = None  # a VRAM plan id to use; None fits one to the card
    long_side: int | None = None  # canvas long side in px (None: the scene's size)
    rim_px: int = 3  # how far into the product the model may repaint (to blend it in)
    max_sequence_length: int = 512
    canvas: Image.Image | None = None
    mask: Image.Image | None = None
    box: Box | None = None
    on_progress: Callable[[int, int], None] | None = None  # (step, steps)
    cancelled: Callable[[], bool] | None = None
    time_left_s: float | None = None  # what is left of the variant's time limit (all attempts together)
    on_billed: Callable[[], None] | None = None  # a paid backend calls it once the provider has billed the image
    view: str | None = None  # "side" or "top" (photographed from above); None: the generator judges
    upscale: str = "auto"  # how a plate painted below the canvas size goes up to it (config.UPSCALES)
    # the seeds of this shot's variants a local model may paint in the same call (this
    # one's among them), and what binds them: the job and its round
    batch_seeds: tuple[int, ...] = ()
    batch_key: str = ""
    backdrop: Image.Image | None = None  # the seller's backdrop photo (a scene with [backdrop])
    reference: Image.Image | None = None  # "a scene like this photo" (klein takes it; others read its colours)
    light_match: float = 0.0  # 0..1: the product's shading adapted to the plate (0: its own pixels)


@dataclass
class Generated:
    image: Image.Image  # RGB, the scene with the product in it, at the canvas size
    box: Box  # where the product was placed
    info: dict = field(default_factory=dict)  # recorded with the variant: plan, steps, light, ...


class Generator:
    """The generator protocol, with its defaults: a backend subclasses it, sets the
    facts it differs in and implements `generate`."""

    device: ClassVar[str] = "cpu"  # where its stage runs: "cpu", "gpu" or "network"
    weights: ClassVar[ModelSpec | None] = None  # what it needs installed (None: nothing)
    reads_prompt: ClassVar[bool] = True  # False: it starts without waiting for describe/prompt
    takes_negative: ClassVar[bool] = False
    takes_reference: ClassVar[bool] = False  # paints "a scene like this photo" from a reference image
    canvas_multiple: ClassVar[int | None] = None  # inpainting: canvas sides are multiples of this
    max_attempts: ClassVar[int] = 1  # tries per variant (out-of-memory and fallbacks use them)
    backoff_s: ClassVar[float] = 0.0
    time_limit_s: ClassVar[float | None] = None  # per variant, all attempts together (None: no limit)
    local_gpu: ClassVar[bool] = False  # a model on this machine's GPU (what `auto` and fallbacks look for)
    # False: the image it returns already holds the cut-out's own pixels, put back as the
    # preserve stage would (so that stage and the fidelity measurement have nothing to do)
    redraws_product: ClassVar[bool] = True
    title: ClassVar[str] = ""

    def unavailable(self) -> str | None:
        """Why it can't run here (with what to do), or None when it can."""
        if self.weights is None:
            return None
        return unavailable_reason(self.weights)

    def plan(self, card: Card | None, canvas_px: int, forced: str | None = None) -> Plan | None:
        """The VRAM plan it would use on this card (None: it has no plans)."""
        return None

    def plans(self) -> tuple[Plan, ...]:
        """Every plan it knows, roomiest first (for the Models tab)."""
        return ()

    def price(self, params: dict) -> float:
        """Money one image costs (0 for local backends)."""
        return 0.0

    def generate(self, request: GenerateRequest) -> Generated:
        raise NotImplementedError
