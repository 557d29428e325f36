"""FLUX.1 Fill [dev] through diffusers' FluxFillPipeline.

The product is placed on the canvas by the scene template; the mask covers
everything but the (slightly eroded) product, so the model paints the scene around
it; the preserve stage then puts the original pixels back. Placement on the GPU
follows the VRAM plan (precision, quantization, offload, VAE tiling).

The pipeline is kept by the model holder (`studio.models.holder`), so no two big
models are ever on the GPU together. Its licence is non-commercial: `auto` takes it
only under `usage: personal` or when you record that you hold BFL's licence.
"""

from __future__ import annotations

from pathlib import Path

from studio.models.base import GenerateRequest, ModelSpec
from studio.models.devices import CPU_PLAN, Plan
from studio.models.inpaint_common import DiffusersInpainter, call_kwargs

DEFAULT_STEPS = 28
DEFAULT_GUIDANCE = 30.0

WEIGHTS = ModelSpec(
    "flux-fill-dev", "black-forest-labs/FLUX.1-Fill-dev", "generate",
    ("model_index.json", "scheduler/scheduler_config.json", "transformer/config.json",
     "transformer/diffusion_pytorch_model.safetensors.index.json|transformer/diffusion_pytorch_model.safetensors",
     "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "text_encoder/config.json",
     "text_encoder/model.safetensors", "text_encoder_2/config.json",
     "text_encoder_2/model.safetensors.index.json|text_encoder_2/model.safetensors",
     "tokenizer/tokenizer_config.json", "tokenizer_2/tokenizer_config.json"), 33.9,
    "FLUX.1 [dev] Non-Commercial License",
    "https://huggingface.co/black-forest-labs/FLUX.1-Fill-dev/blob/main/LICENSE.md", "paid-licence",
    "Running it for revenue-generating work needs BFL's commercial licence; accept the licence on the model "
    "page to download it.", 6.0, "FLUX.1 Fill [dev]",
    # the diffusers folders; not flux1-fill-dev.safetensors (23.8 GB) or ae.safetensors beside them
    allow_patterns=("model_index.json", "scheduler/*", "transformer/*", "vae/*", "text_encoder/*", "text_encoder_2/*",
                    "tokenizer/*", "tokenizer_2/*"))

# FLUX.1 Fill [dev]: a 12B transformer (23.8 GB in bf16), T5-XXL (9.5 GB), CLIP-L and the VAE.
# Minimums are the peaks measured for FLUX.1 [dev] (same sizes) in "Exploring Quantization
# Backends in Diffusers" (Hugging Face, 2025) where published: bf16 resident 31.4 GB, fp8
# layerwise + model offload 15.6 GB; the others are estimates from the component sizes.
# In fp16 it gives black images (diffusers issues 9096, 10533): no plan without bf16.
PLANS: tuple[Plan, ...] = (
    Plan("bf16-resident", "bf16", None, None, "gpu", False, 31.5, "everything on the GPU in bf16: fastest",
         fp16_ok=False),
    Plan("bf16-model-offload", "bf16", None, "model", "offloaded", False, 25.0,
         "bf16; each model moves to the GPU only while it runs", fp16_ok=False),
    Plan("fp8-model-offload", "bf16", "fp8-layerwise", "model", "offloaded", True, 15.6,
         "transformer weights stored in fp8 (computed in bf16), models offloaded between uses", fp16_ok=False),
    Plan("nf4-model-offload", "bf16", "nf4", "model", "offloaded", True, 10.0,
         "transformer quantized to 4-bit NF4 (bitsandbytes), models offloaded between uses",
         needs=("bitsandbytes",), fp16_ok=False),
    Plan("fp8-group-offload", "bf16", "fp8-layerwise", "group", "offloaded", True, 6.0,
         "fp8 transformer streamed to the GPU in groups of layers: fits 8 GB cards, slower", fp16_ok=False),
    Plan("sequential-offload", "bf16", None, "sequential", "offloaded", True, 3.0,
         "bf16, layer by layer from system memory: the last resort, very slow", fp16_ok=False),
)
BY_ID = {p.id: p for p in (*PLANS, CPU_PLAN)}


def _dtype(plan: Plan, device: str):
    import torch

    if device == "cpu":
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(plan.precision, torch.float32)


def place_pipeline(pipe, plan: Plan, device: str, components: tuple[str, ...], big: str = "transformer") -> None:
    """Put a loaded pipeline where `plan` says (the plans of the FLUX-family models): fp8
    layerwise storage of the big model, then resident, model offload, group offload with
    streams (low CPU memory), or bf16 sequential offload; VAE tiling."""
    import torch

    dtype = _dtype(plan, device)
    if plan.quantization == "fp8-layerwise" and device == "cuda":
        getattr(pipe, big).enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if device != "cuda" or plan.offload is None:
        pipe.to(device)
    elif plan.offload == "model":
        pipe.enable_model_cpu_offload()
    elif plan.offload == "group":
        getattr(pipe, big).enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                                offload_type="leaf_level", use_stream=True, low_cpu_mem_usage=True)
        for name in components:
            if name != big:
                getattr(pipe, name).to("cuda" if name == "vae" else "cpu")
    else:
        pipe.enable_sequential_cpu_offload()
    if plan.vae_tiling:
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)


def nf4_config(dtype, components: list[str]):
    from diffusers.quantizers import PipelineQuantizationConfig

    return PipelineQuantizationConfig(
        quant_backend="bitsandbytes_4bit",
        quant_kwargs={"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": dtype},
        components_to_quantize=components)


def load_pipeline(path: Path, plan: Plan, device: str):
    """FluxFillPipeline from a local folder, placed according to `plan`."""
    from diffusers import FluxFillPipeline

    dtype = _dtype(plan, device)
    kwargs: dict = {"dtype": dtype, "local_files_only": True}
    if plan.quantization == "nf4" and device == "cuda":
        kwargs["quantization_config"] = nf4_config(dtype, ["transformer"])
    pipe = FluxFillPipeline.from_pretrained(str(path), **kwargs)
    place_pipeline(pipe, plan, device, ("text_encoder", "text_encoder_2", "vae", "transformer"))
    return pipe


def run_pipeline(pipe, request: GenerateRequest, steps: int, guidance: float):
    return pipe(**call_kwargs(request, steps, guidance), max_sequence_length=request.max_sequence_length).images


class FluxFillGenerator(DiffusersInpainter):
    title = "FLUX.1 Fill [dev]"
    weights = WEIGHTS
    canvas_multiple = 16  # 8× VAE, then 2×2 patches
    paint_px = 2 * 1024 * 1024  # reliable up to about 2 MP
    # variants are painted one at a time (`batches` stays off): the pipeline samples the
    # kept image's latents with the first generator, so a batched variant would not be
    # the picture its seed gives alone
    plan_list = PLANS
    default_steps = DEFAULT_STEPS
    default_guidance = DEFAULT_GUIDANCE

    def settings_defaults(self) -> tuple[int | None, float | None]:
        from studio.config import load_settings

        s = load_settings()  # the Settings tab's steps and guidance are this model's
        return s.default_steps, s.default_guidance

    def load(self, path: Path, plan: Plan, device: str):
        return load_pipeline(path, plan, device)

    def run(self, pipe, request: GenerateRequest, steps: int, guidance: float):
        return run_pipeline(pipe, request, steps, guidance)
