"""FLUX.1 Fill [dev] through diffusers' FluxFillPipeline.

The product is placed on the canvas by the scene template; the mask covers
everything but the (slightly eroded) product, so the model paints the scene around
it; the preserve stage then puts the original pixels back. Placement on the GPU
follows the VRAM plan (precision, quantization, offload, VAE tiling).

The pipeline is held by the process-wide owner (`studio.models.owner`), so no two
big models are ever on the GPU together.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image

from studio.imaging.compose import Box
from studio.models.devices import Plan
from studio.models.inpaint_common import fill_canvas, step_callback
from studio.models.owner import OWNER
from studio.scenes import Scene

DEFAULT_STEPS = 28
DEFAULT_GUIDANCE = 30.0


def _dtype(plan: Plan, device: str):
    import torch

    if device == "cpu":
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(plan.precision, torch.float32)


def load_pipeline(path: Path, plan: Plan, device: str):
    """FluxFillPipeline from a local folder, placed according to `plan`."""
    import torch
    from diffusers import FluxFillPipeline

    dtype = _dtype(plan, device)
    kwargs: dict = {"dtype": dtype, "local_files_only": True}
    if plan.quantization == "nf4" and device == "cuda":
        from diffusers.quantizers import PipelineQuantizationConfig

        kwargs["quantization_config"] = PipelineQuantizationConfig(
            quant_backend="bitsandbytes_4bit",
            quant_kwargs={"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": dtype},
            components_to_quantize=["transformer"])
    pipe = FluxFillPipeline.from_pretrained(str(path), **kwargs)
    if plan.quantization == "fp8-layerwise" and device == "cuda":
        pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if device != "cuda" or plan.offload is None:
        pipe.to(device)
    elif plan.offload == "model":
        pipe.enable_model_cpu_offload()
    elif plan.offload == "group":
        pipe.transformer.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                              offload_type="leaf_level", use_stream=True)
        for name in ("text_encoder", "text_encoder_2", "vae"):
            getattr(pipe, name).to("cuda" if name == "vae" else "cpu")
    else:
        pipe.enable_sequential_cpu_offload()
    if plan.vae_tiling:
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    return pipe




def generate(path: Path, plan: Plan, device: str, scene: Scene, cutout: Image.Image, prompt: str, seed: int, *,
             steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, long_side: int | None = None,
             max_sequence_length: int = 512, on_step: Callable[[int, int], None] | None = None,
             cancelled: Callable[[], bool] | None = None, rim_px: int = 3) -> tuple[Image.Image, Box]:
    import torch

    canvas, mask, box = fill_canvas(scene, cutout, long_side, erode_px=rim_px)
    with OWNER.lock:
        pipe = OWNER.get((str(path), "flux", plan.id, plan.precision, device), lambda: load_pipeline(path, plan, device))

        out = pipe(prompt=prompt, image=canvas, mask_image=mask, height=canvas.height, width=canvas.width,
                   guidance_scale=guidance, num_inference_steps=steps, max_sequence_length=max_sequence_length,
                   generator=torch.Generator("cpu").manual_seed(seed), callback_on_step_end=step_callback(steps, on_step, cancelled))
    return out.images[0].convert("RGB").resize(canvas.size), box
