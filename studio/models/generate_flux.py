"""FLUX.1 Fill [dev] through diffusers' FluxFillPipeline.

The product is placed on the canvas by the scene template; the mask covers
everything but the (slightly eroded) product, so the model paints the scene around
it; the preserve stage then puts the original pixels back. Placement on the GPU
follows the VRAM plan (precision, quantization, offload, VAE tiling).

The pipeline is kept by the model holder (`studio.models.holder`), so no two big
models are ever on the GPU together.
"""

from __future__ import annotations

from pathlib import Path

from studio.models.base import BackendUnavailable, Generated, GenerateRequest, Generator, ModelSpec, OutOfVram
from studio.models.devices import CPU_PLAN, Card, Plan, PlanMemory
from studio.models.holder import HOLDER
from studio.models.inpaint_common import step_callback

DEFAULT_STEPS = 28
DEFAULT_GUIDANCE = 30.0

WEIGHTS = ModelSpec(
    "flux-fill-dev", "black-forest-labs/FLUX.1-Fill-dev", "generate",
    ("model_index.json", "transformer/config.json", "vae/config.json", "text_encoder/config.json",
     "text_encoder_2/config.json", "tokenizer/tokenizer_config.json", "tokenizer_2/tokenizer_config.json",
     "scheduler/scheduler_config.json"), 57.9,
    "FLUX.1 [dev] Non-Commercial License",
    "https://huggingface.co/black-forest-labs/FLUX.1-Fill-dev/blob/main/LICENSE.md", "paid-licence",
    "Running it for revenue-generating work needs BFL's commercial licence; accept the licence on the model "
    "page to download it.", 6.0, "FLUX.1 Fill [dev]")

# FLUX.1 Fill [dev]: a 12B transformer (23.8 GB in bf16), T5-XXL (9.5 GB), CLIP-L and the VAE.
PLANS: tuple[Plan, ...] = (
    Plan("bf16-resident", "bf16", None, None, "gpu", False, 34.0, "everything on the GPU in bf16: fastest"),
    Plan("bf16-model-offload", "bf16", None, "model", "offloaded", False, 26.0,
         "bf16; each model moves to the GPU only while it runs"),
    Plan("fp8-model-offload", "bf16", "fp8-layerwise", "model", "offloaded", True, 15.0,
         "transformer weights stored in fp8 (computed in bf16), models offloaded between uses"),
    Plan("nf4-model-offload", "bf16", "nf4", "model", "offloaded", True, 10.0,
         "transformer quantized to 4-bit NF4 (bitsandbytes), models offloaded between uses"),
    Plan("nf4-group-offload", "bf16", "nf4", "group", "offloaded", True, 6.0,
         "4-bit transformer streamed to the GPU in groups of layers: fits 8 GB cards, slower"),
    Plan("sequential-offload", "bf16", "nf4", "sequential", "offloaded", True, 3.0,
         "layer by layer from system memory: the last resort, very slow"),
)
BY_ID = {p.id: p for p in (*PLANS, CPU_PLAN)}


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


def run_pipeline(pipe, request: GenerateRequest, steps: int, guidance: float):
    import torch

    canvas = request.canvas
    return pipe(prompt=request.prompt, image=canvas, mask_image=request.mask, height=canvas.height,
                width=canvas.width, guidance_scale=guidance, num_inference_steps=steps,
                max_sequence_length=request.max_sequence_length,
                generator=torch.Generator("cpu").manual_seed(request.seed),
                callback_on_step_end=step_callback(steps, request.on_progress, request.cancelled)).images[0]


class FluxFillGenerator(Generator):
    title = "FLUX.1 Fill [dev]"
    device = "gpu"
    weights = WEIGHTS
    canvas_multiple = 16  # 8× VAE, then 2×2 patches
    max_attempts = 4  # each out-of-memory moves to the next tighter plan
    local_gpu = True

    def plans(self) -> tuple[Plan, ...]:
        return PLANS

    def plan(self, card: Card | None, canvas_px: int, forced: str | None = None) -> Plan:
        if forced:
            return BY_ID[forced]
        return PlanMemory().plan_for(card, PLANS, canvas_px)

    def generate(self, request: GenerateRequest) -> Generated:
        import torch

        from studio.models.devices import detect_card
        from studio.models.registry import locate

        path = locate(WEIGHTS)
        if path is None:
            raise BackendUnavailable(self.unavailable())
        card = detect_card()
        canvas = request.canvas
        plan = self.plan(card, canvas.width * canvas.height, request.plan)
        device = "cuda" if card else "cpu"
        steps = int(request.steps or DEFAULT_STEPS)
        try:
            with HOLDER.lock:
                pipe = HOLDER.get((str(path), "flux", plan.id, plan.precision, device),
                                  lambda: load_pipeline(path, plan, device), big=True)
                image = run_pipeline(pipe, request, steps, float(request.guidance or DEFAULT_GUIDANCE))
        except torch.cuda.OutOfMemoryError as exc:
            HOLDER.release()
            nxt = PlanMemory().remember_oom(card, plan, PLANS) if card else None
            raise OutOfVram(f"out of GPU memory on plan {plan.id}", nxt.id if nxt else None) from exc
        return Generated(image.convert("RGB").resize(canvas.size), request.box, {"plan": plan.id, "steps": steps})
