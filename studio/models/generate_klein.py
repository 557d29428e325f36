"""FLUX.2 [klein] 4B through diffusers' Flux2KleinInpaintPipeline: the generator a
seller may use (Apache-2.0) on the card they have (BFL recommends it for consumer
GPUs).

It is step-distilled: 4 steps by default, and guidance is ignored (the pipeline warns
above 1). The inpaint pipeline takes its mask and strength as it documents: the mask
blends the kept product's latents back after every step and the kept image is also
given as a reference; strength shortens the schedule as in img2img, and with 4 steps
anything under ~0.75 drops steps a distilled schedule needs, so Studio paints the
scene at strength 1.0 (from noise) and keeps the product through the mask.

Its plans are estimates from its parts (a 4B transformer, 7.8 GB in bf16; a Qwen3-4B
text encoder, ~8 GB; a small VAE): no published peaks yet; `bench/flux_gpu.py`
measures them on a GPU.
"""

from __future__ import annotations

from pathlib import Path

from studio.models.base import GenerateRequest, ModelSpec
from studio.models.devices import CPU_PLAN, Plan
from studio.models.generate_flux import _dtype, nf4_config, place_pipeline
from studio.models.inpaint_common import DiffusersInpainter, call_kwargs

DEFAULT_STEPS = 4
DEFAULT_GUIDANCE = 1.0  # distilled: no classifier-free guidance

WEIGHTS = ModelSpec(
    "flux2-klein-4b", "black-forest-labs/FLUX.2-klein-4B", "generate",
    ("model_index.json", "scheduler/scheduler_config.json", "transformer/config.json",
     "transformer/diffusion_pytorch_model.safetensors|transformer/diffusion_pytorch_model.safetensors.index.json",
     "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "text_encoder/config.json",
     "text_encoder/model.safetensors|text_encoder/model.safetensors.index.json", "tokenizer/tokenizer_config.json"),
    16.0, "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", "yes",
    "Commercial use is allowed; keep the licence notice.", 6.5, "FLUX.2 [klein] 4B",
    # the diffusers folders; not the single-file flux-2-klein-4b.safetensors (7.75 GB) beside them
    allow_patterns=("model_index.json", "scheduler/*", "transformer/*", "vae/*", "text_encoder/*", "tokenizer/*"))

PLANS: tuple[Plan, ...] = (
    Plan("klein-bf16-resident", "bf16", None, None, "gpu", False, 18.0,
         "transformer and Qwen3 text encoder resident in bf16: fastest", fp16_ok=False),
    Plan("klein-bf16-model-offload", "bf16", None, "model", "offloaded", False, 10.0,
         "bf16; the text encoder leaves the GPU while the transformer runs", fp16_ok=False),
    Plan("klein-fp8-model-offload", "bf16", "fp8-layerwise", "model", "offloaded", True, 6.5,
         "transformer and text encoder stored in fp8 (computed in bf16), taking turns on the GPU: 8 GB cards", fp16_ok=False),
    Plan("klein-nf4-model-offload", "bf16", "nf4", "model", "offloaded", True, 4.5,
         "transformer and text encoder in 4-bit NF4 (bitsandbytes), taking turns on the GPU",
         needs=("bitsandbytes",), fp16_ok=False),
    Plan("klein-bf16-sequential", "bf16", None, "sequential", "offloaded", True, 2.5,
         "bf16, layer by layer from system memory: the last resort, very slow", fp16_ok=False),
)
BY_ID = {p.id: p for p in (*PLANS, CPU_PLAN)}


def load_pipeline(path: Path, plan: Plan, device: str):
    """Flux2KleinInpaintPipeline from a local folder (the repo names its text-to-image
    pipeline; the inpaint one has the same parts), placed according to `plan`."""
    from diffusers import Flux2KleinInpaintPipeline

    dtype = _dtype(plan, device)
    kwargs: dict = {"dtype": dtype, "local_files_only": True}
    if plan.quantization == "nf4" and device == "cuda":
        kwargs["quantization_config"] = nf4_config(dtype, ["transformer", "text_encoder"])
    pipe = Flux2KleinInpaintPipeline.from_pretrained(str(path), **kwargs)
    if plan.quantization == "fp8-layerwise" and device == "cuda":
        store_text_encoder_in_fp8(pipe.text_encoder, dtype)
    place_pipeline(pipe, plan, device, ("text_encoder", "vae", "transformer"))
    return pipe


def store_text_encoder_in_fp8(text_encoder, compute_dtype) -> None:
    """The text encoder (as big as the transformer) stored in fp8, each layer computed in
    `compute_dtype`. Its norms and embeddings stay as they are, and so does `lm_head`:
    Qwen3-4B ties it to the token embeddings (one tensor), so casting the head (which the
    pipeline never runs) would turn the embeddings to fp8 and fail at the first norm
    ("Promotion for Float8 Types is not supported": seen on an H200 with the tiny model)."""
    import torch
    from diffusers.hooks import apply_layerwise_casting

    apply_layerwise_casting(text_encoder, storage_dtype=torch.float8_e4m3fn, compute_dtype=compute_dtype,
                            skip_modules_pattern=("norm", "embed", "lm_head"))


class KleinGenerator(DiffusersInpainter):
    title = "FLUX.2 [klein] 4B"
    weights = WEIGHTS
    canvas_multiple = 16  # 8× VAE, then 2×2 patches
    plan_list = PLANS
    default_steps = DEFAULT_STEPS
    default_guidance = DEFAULT_GUIDANCE
    # its VAE encodes the kept image by its mode, so a batch draws only each image's own
    # noise: variant i of a batch is the picture seed i gives alone
    batches = True
    takes_reference = True  # the pipeline's image_reference: "a scene like this photo"

    def load(self, path: Path, plan: Plan, device: str):
        return load_pipeline(path, plan, device)

    def run(self, pipe, request: GenerateRequest, steps: int, guidance: float):
        extra = {"image_reference": [request.reference]} if request.reference is not None else {}
        return pipe(**call_kwargs(request, steps, guidance), strength=1.0,
                    max_sequence_length=request.max_sequence_length, **extra).images
