"""SDXL inpainting through diffusers' StableDiffusionXLInpaintPipeline: the lighter
generator for 8–12 GB cards (about 7 GB in fp16). Same contract as the FLUX backend:
the product is placed on the canvas, everything else is painted, and the preserve
stage puts the original pixels back."""

from __future__ import annotations

from pathlib import Path

from studio.models.base import GenerateRequest, ModelSpec
from studio.models.devices import CPU_PLAN, Card, Plan, choose_plan
from studio.models.inpaint_common import DiffusersInpainter, call_kwargs

DEFAULT_STEPS = 30
DEFAULT_GUIDANCE = 7.5

WEIGHTS = ModelSpec(
    "sdxl-inpaint", "diffusers/stable-diffusion-xl-1.0-inpainting-0.1", "generate",
    ("model_index.json", "scheduler/scheduler_config.json", "unet/config.json",
     "unet/diffusion_pytorch_model.fp16.safetensors|unet/diffusion_pytorch_model.safetensors", "vae/config.json",
     "vae/diffusion_pytorch_model.fp16.safetensors|vae/diffusion_pytorch_model.safetensors",
     "text_encoder/config.json", "text_encoder/model.fp16.safetensors|text_encoder/model.safetensors",
     "text_encoder_2/config.json", "text_encoder_2/model.fp16.safetensors|text_encoder_2/model.safetensors",
     "tokenizer/tokenizer_config.json", "tokenizer_2/tokenizer_config.json"), 6.95, "CreativeML Open RAIL++-M",
    "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md", "yes",
    "Commercial use is allowed; the licence's use restrictions (its Attachment A) apply to what you make.", 6.0,
    "SDXL inpainting 0.1",
    # the fp16 copy of each component, which the loader reads; not the fp32 ones beside them
    allow_patterns=("model_index.json", "scheduler/*", "tokenizer/*", "tokenizer_2/*", "*/config.json",
                    "*/*.fp16.safetensors"))


PLANS: tuple[Plan, ...] = (
    Plan("sdxl-resident", "bf16", None, None, "gpu", False, 11.0, "SDXL fully on the GPU"),
    Plan("sdxl-model-offload", "bf16", None, "model", "offloaded", True, 5.0,
         "SDXL, each model on the GPU only while it runs"),
)


def sdxl_plan(card: Card | None) -> Plan | None:
    """The plan SDXL takes on this card (fp16 where there is no bf16)."""
    return choose_plan(card, PLANS) if card else CPU_PLAN


def load_pipeline(path: Path, plan: Plan, device: str):
    import torch
    from diffusers import StableDiffusionXLInpaintPipeline

    dtype = torch.float32 if device == "cpu" else {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
        plan.precision, torch.float32)
    kwargs: dict = {"dtype": dtype, "local_files_only": True}
    if (path / "unet" / "diffusion_pytorch_model.fp16.safetensors").exists():
        kwargs["variant"] = "fp16"  # half the download and the load where the repo has them (cast up on a CPU)
    pipe = StableDiffusionXLInpaintPipeline.from_pretrained(str(path), **kwargs)
    if device == "cuda" and plan.offload == "model":
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    if plan.vae_tiling:
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    return pipe


class SDXLInpaintGenerator(DiffusersInpainter):
    title = "SDXL inpainting"
    weights = WEIGHTS
    takes_negative = True
    canvas_multiple = 8
    max_attempts = 2
    # variants one at a time (`batches` off), as for FLUX.1 Fill: its VAE samples the
    # kept image with the first generator, so a batch would change variants 2..N
    plan_list = PLANS
    default_steps = DEFAULT_STEPS
    default_guidance = DEFAULT_GUIDANCE

    def load(self, path: Path, plan: Plan, device: str):
        return load_pipeline(path, plan, device)

    def run(self, pipe, request: GenerateRequest, steps: int, guidance: float):
        return pipe(**call_kwargs(request, steps, guidance), negative_prompt=request.negative_prompt,
                    strength=request.strength).images
