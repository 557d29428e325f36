"""What the local inpainting backends (FLUX.1 Fill, FLUX.2 klein, SDXL inpainting)
share: the canvas with the product placed and the mask of what to paint, the per-step
callback that reports progress and stops between steps when asked, and the life of a
diffusers model on this machine's GPU (`DiffusersInpainter`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
from PIL import Image

from studio.imaging.compose import Box, crop_to_alpha, over, paste_layer, place, resize_product
from studio.models.base import (
    BackendUnavailable,
    BlankImage,
    Generated,
    GenerateRequest,
    Generator,
    OutOfVram,
    PlanFailed,
    is_blank,
)
from studio.models.devices import CPU_PLAN, Card, Plan, PlanMemory, choose_plan, has_bf16, tighter
from studio.models.holder import HOLDER
from studio.models.variant_batch import SHELF, ran_out, request_key, variants_per_call
from studio.scenes import Scene

# FLUX works on 16-px multiples (8× VAE, then 2×2 patches); SDXL on 8.
MULTIPLE = 16


def fill_canvas(scene: Scene, cutout: Image.Image, long_side: int | None, erode_px: int = 3,
                multiple: int = MULTIPLE) -> tuple[Image.Image, Image.Image, Box]:
    """(canvas RGB with the product placed on neutral grey, mask L: 255 = paint, 0 = keep, box)."""
    W, H = scene.canvas_size(long_side)
    W, H = max(multiple, W - W % multiple), max(multiple, H - H % multiple)
    product = crop_to_alpha(cutout)
    box = place(product.size, (W, H), scene.placement)
    layer = paste_layer((H, W), resize_product(product, box), box)
    grey = np.full((H, W, 3), 0.5, np.float32)
    canvas = over(grey, layer[..., :3], layer[..., 3])
    keep = (layer[..., 3] >= 0.999).astype(np.uint8)
    if erode_px > 0:
        # the model may repaint a thin rim, so it can blend the product into the scene
        keep = cv2.erode(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1,) * 2))
    mask = np.where(keep > 0, 0, 255).astype(np.uint8)
    return (Image.fromarray(np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)), Image.fromarray(mask, "L"), box)


def paint_size(size: tuple[int, int], max_px: int, multiple: int = MULTIPLE) -> tuple[int, int]:
    """The size a model paints a canvas of `size` at: the canvas itself when it is within
    `max_px` pixels, else the largest size at its aspect within them, in multiples the
    model needs."""
    w, h = size
    if w * h <= max_px:
        return w, h
    s = (max_px / (w * h)) ** 0.5
    return max(multiple, int(w * s) // multiple * multiple), max(multiple, int(h * s) // multiple * multiple)


def shrink_for_painting(canvas: Image.Image, mask: Image.Image, size: tuple[int, int]
                        ) -> tuple[Image.Image, Image.Image]:
    """The canvas and its mask at the painting size: the canvas averaged down; the mask
    paints wherever any of the canvas's pixels under it was to be painted (the product
    kept whole only where it was whole)."""
    if canvas.size == size:
        return canvas, mask
    small = canvas.resize(size, Image.Resampling.BOX)
    keep = np.asarray(mask) == 0
    kept = cv2.resize(keep.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.999
    return small, Image.fromarray(np.where(kept, 0, 255).astype(np.uint8), "L")


def step_callback(steps: int, on_step: Callable[[int, int], None] | None,
                  cancelled: Callable[[], bool] | None):
    """A diffusers `callback_on_step_end`: progress after each step, and an interrupt
    (honoured before the next step) when the job was cancelled."""

    def step_end(pipeline, i, t, kwargs):
        if on_step:
            on_step(i + 1, steps)
        if cancelled and cancelled():
            pipeline._interrupt = True
        return kwargs

    return step_end


def call_kwargs(request, steps: int, guidance: float) -> dict:
    """What every inpainting pipeline call shares: prompt, canvas and mask at the canvas's
    size, steps and guidance, numpy output, a seeded CPU generator (the same seed gives
    the same image on any device), progress and cancel after each step. A request that
    paints several variants (`batch_seeds`) gets one image per seed, each from its own
    generator."""
    import torch

    canvas = request.canvas
    seeds = request.batch_seeds if len(request.batch_seeds) > 1 else (request.seed,)
    generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
    return dict(prompt=request.prompt, image=canvas, mask_image=request.mask, height=canvas.height,
                width=canvas.width, num_inference_steps=steps, guidance_scale=guidance, output_type="np",
                num_images_per_prompt=len(seeds), generator=generators if len(seeds) > 1 else generators[0],
                callback_on_step_end=step_callback(steps, request.on_progress, request.cancelled))


def upscale_plate(image: Image.Image, size: tuple[int, int], setting: str) -> tuple[Image.Image, str, float]:
    """A plate painted below the canvas size, taken up to it: (image, upscaler, factor)."""
    from studio.models.registry import pick_upscaler

    factor = round(max(size[0] / image.width, size[1] / image.height), 2)
    upscaler = pick_upscaler(setting, factor)
    if upscaler is None:  # off: plain resampling, as before
        return image.resize(size, Image.Resampling.LANCZOS), "off", factor
    return upscaler.upscale(image, size), upscaler.name, factor


class DiffusersInpainter(Generator):
    """The shared life of a local diffusers inpainting model: pick its VRAM plan for the
    card, have the model holder load it (one big model on the GPU at a time), run it, and
    turn what goes wrong into the next plan to try. A subclass names its weights, its
    plans, its defaults, how to load its pipeline and how to call it."""

    device = "gpu"
    local_gpu = True
    canvas_multiple = MULTIPLE
    max_attempts = 4  # an out-of-memory, a failed load or a black image each move to the next plan
    plan_list: ClassVar[tuple[Plan, ...]] = ()
    # what it paints reliably: about 1 MP for klein (its pipeline shrinks a larger image
    # to that anyway) and SDXL (trained there; larger canvases repeat objects)
    paint_px: ClassVar[int] = 1024 * 1024
    # memory one more image in a batch takes at the painting size (activations; an
    # estimate until bench/flux_gpu.py measures it on a card)
    per_image_gb: ClassVar[float] = 1.5
    # whether its variants are painted together: only where a batched image is the one its
    # seed gives alone (the pipeline draws nothing but each image's starting noise)
    batches: ClassVar[bool] = False
    default_steps: ClassVar[int] = 28
    default_guidance: ClassVar[float] = 7.0

    def plans(self) -> tuple[Plan, ...]:
        return self.plan_list

    def plan(self, card: Card | None, canvas_px: int, forced: str | None = None) -> Plan | None:
        if card is None:
            return CPU_PLAN
        if forced:
            chosen = [p for p in self.plan_list if p.id == forced]
            if chosen:  # a retry's next plan, or one set in the Models tab: fitted to the card all the same
                return choose_plan(card, tuple(chosen), canvas_px)
        return PlanMemory().plan_for(card, self.plan_list, canvas_px)

    def load(self, path: Path, plan: Plan, device: str):
        raise NotImplementedError

    def run(self, pipe, request: GenerateRequest, steps: int, guidance: float) -> np.ndarray:
        """The pipeline called with `output_type="np"`: (1, H, W, 3) floats in [0, 1]."""
        raise NotImplementedError

    def settings_defaults(self) -> tuple[int | None, float | None]:
        """Steps and guidance the settings set for this model (None: its own)."""
        return None, None

    def generate(self, request: GenerateRequest) -> Generated:
        import torch

        from studio.models.devices import detect_card
        from studio.models.registry import locate

        path = locate(self.weights)
        if path is None:
            raise BackendUnavailable(self.unavailable())
        card = detect_card()
        canvas = request.canvas
        plan = self.plan(card, canvas.width * canvas.height, request.plan)
        if plan is None:
            fp32 = min((p.min_vram_gb * 2 for p in self.plan_list if p.quantization is None and p.offload == "model"),
                       default=0)
            raise BackendUnavailable(f"{self.title} has no plan that runs on {card.name}: " + (
                f"it needs bf16 (an Ampere or newer card), or {fp32:.0f} GB for fp32; use {self._others()}"
                if not has_bf16(card) else "a package it needs is missing"))
        device = "cuda" if card else "cpu"
        set_steps, set_guidance = self.settings_defaults()
        steps = int(request.steps or set_steps or self.default_steps)
        guidance = float(request.guidance if request.guidance is not None else set_guidance or self.default_guidance)
        key = (str(path), self.title, plan.id, plan.precision, device)
        try:
            with HOLDER.lock:
                try:
                    pipe = HOLDER.get(key, lambda: self.load(path, plan, device), big=True)
                except torch.cuda.OutOfMemoryError:
                    raise
                except Exception as exc:  # a missing package, a plan this setup cannot place
                    raise self._load_failure(exc, plan, card) from exc
                painted = paint_size(canvas.size, self.paint_px, self.canvas_multiple or MULTIPLE)
                small, small_mask = shrink_for_painting(canvas, request.mask, painted)
                images, batch = self._paint(pipe, replace(request, canvas=small, mask=small_mask), steps, guidance,
                                            (str(path), plan.id, device), card, plan)
        except torch.cuda.OutOfMemoryError as exc:
            HOLDER.release()
            nxt = PlanMemory().remember_oom(card, plan, self.plan_list) if card else None
            raise OutOfVram(f"out of GPU memory on plan {plan.id}", nxt.id if nxt else None) from exc
        image = self._image(images, plan, card)
        info = {"plan": plan.id, "steps": steps, "painted_size": list(image.size), "variants_per_call": batch}
        if image.size != canvas.size:  # the plate goes up to the canvas; the product goes back on it later
            image, info["upscaler"], info["upscale_factor"] = upscale_plate(image, canvas.size, request.upscale)
        return Generated(image, request.box, info)

    def _paint(self, pipe, request: GenerateRequest, steps: int, guidance: float, model: tuple,
               card: Card | None, plan: Plan) -> tuple[np.ndarray, int]:
        """This variant's image and how many variants its call painted: taken from the
        shelf when a sibling's call painted it, else painted together with the siblings
        that fit (`variant_batch`), one at a time when a batch runs out of memory."""
        import torch

        if not self.batches or len(request.batch_seeds) <= 1:
            return self.run(pipe, replace(request, batch_seeds=()), steps, guidance), 1
        key = request_key(request.batch_key, model, request.prompt, request.negative_prompt, steps, guidance,
                          request.strength, request.max_sequence_length, request.canvas, request.mask,
                          request.reference if request.reference is not None else "")
        shelved = SHELF.take(key, request.seed)
        if shelved is not None:
            return shelved[None], len(request.batch_seeds)
        siblings = [s for s in request.batch_seeds if s != request.seed]
        n = variants_per_call(card, plan, 1 + len(siblings), self.per_image_gb)
        seeds = (request.seed, *siblings[:n - 1])
        if n > 1:
            try:
                images = self.run(pipe, replace(request, batch_seeds=seeds), steps, guidance)
            except torch.cuda.OutOfMemoryError:
                ran_out(card, plan, n)
                torch.cuda.empty_cache()
            else:
                # a call stopped by a cancel holds half-painted siblings: never shelved for a retry
                if not (request.cancelled and request.cancelled()):
                    SHELF.put(key, dict(zip(seeds[1:], images[1:], strict=True)))
                return images[:1], n
        return self.run(pipe, replace(request, batch_seeds=()), steps, guidance), 1

    def _others(self) -> str:
        """The engines to try instead, in a sentence."""
        others = [e for e in ("klein", "SDXL") if e.lower() not in self.title.lower()]
        return " or ".join([*others, "the cloud"])

    def _load_failure(self, exc: Exception, plan: Plan, card: Card | None) -> PlanFailed:
        missing = next((pkg for pkg in plan.needs if pkg in str(exc) or pkg in plan.missing()), None)
        nxt = tighter(plan, self.plan_list, card, without=missing) if card else None
        return PlanFailed(f"{self.title} could not load on plan {plan.id} ({type(exc).__name__}: {exc})",
                          nxt.id if nxt else None)

    def _image(self, images: np.ndarray, plan: Plan, card: Card | None) -> Image.Image:
        arr = images[0] if images.ndim == 4 else images
        if is_blank(arr):
            # the precision failed, not the placement: every plan here runs in the same one,
            # so none is loaded again to make the same black image
            why = " (fp16 on a card without bf16)" if plan.precision == "fp16" else f" in {plan.precision}"
            raise BlankImage(f"{self.title} made a black or NaN image on plan {plan.id}{why}; no other plan "
                             f"on this card computes differently: use {self._others()}", None)
        return Image.fromarray(np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
