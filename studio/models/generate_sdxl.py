"""SDXL inpainting through diffusers' StableDiffusionXLInpaintPipeline: the lighter
generator for 8–12 GB cards (about 7 GB in fp16). Same contract as the FLUX backend:
the product is placed on the canvas, everything else is painted, and the preserve
stage puts the original pixels back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image

from studio.imaging.compose import Box
from studio.models.devices import Card, Plan
from studio.models.inpaint_common import fill_canvas, step_callback
from studio.models.owner import OWNER
from studio.scenes import Scene

DEFAULT_STEPS = 30
DEFAULT_GUIDANCE = 7.5


def sdxl_plan(card: Card | None) -> Plan:
    if card is None:
        return Plan("sdxl-cpu", "fp32", None, None, "gpu", True, 0.0, "no CUDA GPU: on the CPU (slow)")
    precision = "bf16" if card.capability >= (8, 0) else "fp16"
    if card.total_gb >= 12:
        return Plan("sdxl-resident", precision, None, None, "gpu", False, 12.0, "SDXL fully on the GPU")
    return Plan("sdxl-model-offload", precision, None, "model", "offloaded", True, 6.0,
                "SDXL, each model on the GPU only while it runs")


def load_pipeline(path: Path, plan: Plan, device: str):
    import torch
    from diffusers import StableDiffusionXLInpaintPipeline

    dtype = torch.float32 if device == "cpu" else {"bf16": torch.bfloat16, "fp16": torch.float16}[plan.precision]
    pipe = StableDiffusionXLInpaintPipeline.from_pretrained(str(path), dtype=dtype, local_files_only=True)
    if device == "cuda" and plan.offload == "model":
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    if plan.vae_tiling:
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(path: Path, plan: Plan, device: str, scene: Scene, cutout: Image.Image, prompt: str, negative: str,
             seed: int, *, steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, long_side: int | None = None,
             on_step: Callable[[int, int], None] | None = None,
             cancelled: Callable[[], bool] | None = None, rim_px: int = 3) -> tuple[Image.Image, Box]:
    import torch

    canvas, mask, box = fill_canvas(scene, cutout, long_side, erode_px=rim_px, multiple=8)
    with OWNER.lock:
        pipe = OWNER.get((str(path), "sdxl", plan.id, plan.precision, device), lambda: load_pipeline(path, plan, device))

        out = pipe(prompt=prompt, negative_prompt=negative, image=canvas, mask_image=mask, height=canvas.height,
                   width=canvas.width, strength=0.99, num_inference_steps=steps, guidance_scale=guidance,
                   generator=torch.Generator("cpu").manual_seed(seed),
                   callback_on_step_end=step_callback(steps, on_step, cancelled))
    return out.images[0].convert("RGB").resize(canvas.size), box
