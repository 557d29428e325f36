"""SDXL inpainting through diffusers' StableDiffusionXLInpaintPipeline: the lighter
generator for 8–12 GB cards (about 7 GB in fp16). Same contract as the FLUX backend:
the product is placed on the canvas, everything else is painted, and the preserve
stage puts the original pixels back."""

from __future__ import annotations

from pathlib import Path

from studio.models.base import BackendUnavailable, Generated, GenerateRequest, Generator, ModelSpec
from studio.models.devices import Card, Plan
from studio.models.holder import HOLDER
from studio.models.inpaint_common import step_callback

DEFAULT_STEPS = 30
DEFAULT_GUIDANCE = 7.5

WEIGHTS = ModelSpec(
    "sdxl-inpaint", "diffusers/stable-diffusion-xl-1.0-inpainting-0.1", "generate",
    ("model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
     "text_encoder_2/config.json", "scheduler/scheduler_config.json"), 13.9, "CreativeML Open RAIL++-M",
    "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md", "yes",
    "Commercial use is allowed; the licence's use restrictions (its Attachment A) apply to what you make.", 6.0,
    "SDXL inpainting 0.1")


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


class SDXLInpaintGenerator(Generator):
    title = "SDXL inpainting"
    device = "gpu"
    weights = WEIGHTS
    takes_negative = True
    canvas_multiple = 8
    max_attempts = 2
    local_gpu = True
    prefer_below_gb = 12.0  # under 12 GB FLUX only runs streamed from system memory: this is the better choice

    def plan(self, card: Card | None, canvas_px: int, forced: str | None = None) -> Plan:
        return sdxl_plan(card)

    def plans(self) -> tuple[Plan, ...]:
        return (sdxl_plan(Card("", 24, 24, (8, 0))), sdxl_plan(Card("", 8, 8, (8, 0))))

    def generate(self, request: GenerateRequest) -> Generated:
        import torch

        from studio.models.devices import detect_card
        from studio.models.registry import locate

        path = locate(WEIGHTS)
        if path is None:
            raise BackendUnavailable(self.unavailable())
        card = detect_card()
        plan = sdxl_plan(card)
        device = "cuda" if card else "cpu"
        steps = int(request.steps or DEFAULT_STEPS)
        canvas = request.canvas
        with HOLDER.lock:
            pipe = HOLDER.get((str(path), "sdxl", plan.id, plan.precision, device),
                              lambda: load_pipeline(path, plan, device), big=True)
            out = pipe(prompt=request.prompt, negative_prompt=request.negative_prompt, image=canvas,
                       mask_image=request.mask, height=canvas.height, width=canvas.width, strength=request.strength,
                       num_inference_steps=steps, guidance_scale=float(request.guidance or DEFAULT_GUIDANCE),
                       generator=torch.Generator("cpu").manual_seed(request.seed),
                       callback_on_step_end=step_callback(steps, request.on_progress, request.cancelled))
        return Generated(out.images[0].convert("RGB").resize(canvas.size), request.box,
                         {"plan": plan.id, "steps": steps})
