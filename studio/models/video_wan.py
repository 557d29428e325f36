"""Wan 2.2 TI2V 5B, image-to-video through diffusers' WanImageToVideoPipeline: the
clip model a seller may use (Apache-2.0) and the smallest of the Wan family (the 14B
image-to-video models need a 80 GB card or heavy offload).

The repository ships `WanPipeline` (text-to-video) in its model_index; the same parts
load as the image-to-video pipeline, which conditions on the first frame through the
latents (`expand_timesteps`: no CLIP image encoder). It makes 24 fps at 1280×704 (or
704×1280); frame counts are 4k + 1. LTX-Video was the other candidate: its newer
weights come under the LTXV Open Weights licence, which limits commercial use by
revenue, so Studio does not offer it to sellers.

Plans are estimates from its parts (a 5B transformer, 10 GB in bf16; UMT5-XXL, 11 GB;
the VAE decode of a 5 s 720p clip is the peak), to be measured by a GPU run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.models.base import ModelSpec
from studio.models.devices import CPU_PLAN, Plan

NATIVE_FPS = 24
STEPS = 30
GUIDANCE = 5.0
# the sizes it was trained for, by the clip's shape (multiples of 32)
SIZES = {"portrait": (704, 1280), "landscape": (1280, 704), "square": (704, 704)}
NEGATIVE = ("the product changes shape, colour, label or text; warped, melting, flickering, extra objects, "
            "blurry, low quality, watermark, text overlay")

WEIGHTS = ModelSpec(
    "wan2.2-ti2v-5b", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "video",
    ("model_index.json", "scheduler/scheduler_config.json", "transformer/config.json",
     "transformer/diffusion_pytorch_model.safetensors.index.json|transformer/diffusion_pytorch_model.safetensors",
     "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "text_encoder/config.json",
     "text_encoder/model.safetensors.index.json|text_encoder/model.safetensors", "tokenizer/tokenizer_config.json"),
    34.2,
    "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", "yes",
    "Commercial use is allowed; keep the licence notice. You are responsible for what you make with it.", 22.0,
    "Wan 2.2 TI2V 5B (image-to-video)",
    allow_patterns=("model_index.json", "scheduler/*", "transformer/*", "vae/*", "text_encoder/*", "tokenizer/*"))

PLANS: tuple[Plan, ...] = (
    Plan("wan-bf16-resident", "bf16", None, None, "gpu", False, 40.0,
         "transformer, UMT5 text encoder and VAE resident in bf16: fastest", fp16_ok=False),
    Plan("wan-bf16-model-offload", "bf16", None, "model", "offloaded", False, 22.0,
         "bf16; each part goes to the GPU only while it runs (24 GB cards)", fp16_ok=False),
    Plan("wan-bf16-sequential", "bf16", None, "sequential", "offloaded", True, 10.0,
         "bf16, layer by layer from system memory: very slow", fp16_ok=False),
)
BY_ID = {p.id: p for p in (*PLANS, CPU_PLAN)}


def shape_of(width: int, height: int) -> str:
    return "portrait" if height > width * 1.2 else "landscape" if width > height * 1.2 else "square"


def model_frames(seconds: float, fps: int = NATIVE_FPS) -> int:
    """Frames the model makes for `seconds` at its own rate: 4k + 1."""
    return int(round(fps * seconds / 4)) * 4 + 1


def load_pipeline(path: Path, plan: Plan, device: str):
    """WanImageToVideoPipeline from a local folder, placed according to `plan`; the VAE
    stays in float32 (the Wan VAE decodes with artefacts in bf16, as its authors say)."""
    import torch
    from diffusers import AutoencoderKLWan, WanImageToVideoPipeline

    from studio.models.generate_flux import _dtype, place_pipeline

    dtype = _dtype(plan, device)
    vae = AutoencoderKLWan.from_pretrained(str(path), subfolder="vae", dtype=torch.float32, local_files_only=True)
    pipe = WanImageToVideoPipeline.from_pretrained(str(path), vae=vae, dtype=dtype, local_files_only=True)
    place_pipeline(pipe, plan, device, ("text_encoder", "transformer", "vae"))
    return pipe


class WanClipModel:
    weights = WEIGHTS
    plans = PLANS

    def __init__(self, path: Path | None = None, device: str | None = None, plan: str | None = None):
        # what it makes: frame sizes by shape, its frame rate and steps (a test's tiny model, smaller)
        self.sizes, self.native_fps, self.steps = dict(SIZES), NATIVE_FPS, STEPS
        from studio.models.devices import detect_card, torch_device
        from studio.models.registry import locate

        self.path = Path(path) if path else locate(WEIGHTS)
        if self.path is None:
            raise RuntimeError(f"{WEIGHTS.title} is not installed: studio models download {WEIGHTS.id} "
                               f"({WEIGHTS.size_gb:.0f} GB)")
        self.device = device or torch_device()
        if plan:
            self.plan = BY_ID[plan]
        elif self.device == "cpu":
            self.plan = CPU_PLAN
        else:
            from studio.models.devices import choose_plan

            self.plan = choose_plan(detect_card(), PLANS) or PLANS[-1]

    @classmethod
    def check_usable(cls) -> None:
        """Raises RuntimeError saying what stops this model here (licence, weights, GPU)."""
        from studio.config import load_settings
        from studio.models.devices import torch_device
        from studio.models.registry import locate

        if not WEIGHTS.allowed_for(load_settings().usage):
            raise RuntimeError(WEIGHTS.licence_line())
        if locate(WEIGHTS) is None:
            raise RuntimeError(f"{WEIGHTS.title} is not installed: studio models download {WEIGHTS.id} "
                               f"({WEIGHTS.size_gb:.0f} GB); the classic clip needs no weights")
        if torch_device() != "cuda":
            raise RuntimeError(f"{WEIGHTS.title} needs an NVIDIA GPU ({WEIGHTS.vram_gb:.0f} GB and up); "
                               "use --engine classic here")

    @classmethod
    def usable(cls) -> bool:
        try:
            cls.check_usable()
        except RuntimeError:
            return False
        return True

    def pipeline(self):
        from studio.models.holder import HOLDER

        return HOLDER.get(("wan-ti2v", str(self.path), self.plan.id, self.device),
                          lambda: load_pipeline(self.path, self.plan, self.device), big=True)

    def frames(self, first: np.ndarray, prompt: str, *, num_frames: int, seed: int, steps: int | None = None,
               guidance: float = GUIDANCE, on_step=None) -> np.ndarray:
        """(num_frames, h, w, 3) uint8 from the first frame (RGB uint8 of the model's size)."""
        import torch
        from PIL import Image

        pipe = self.pipeline()
        h, w = first.shape[:2]
        steps = steps or self.steps

        def callback(p, i, t, kw):
            if on_step is not None:
                on_step(i + 1, steps)
            return {}

        generator = torch.Generator("cpu").manual_seed(int(seed))
        out = pipe(image=Image.fromarray(first), prompt=prompt, negative_prompt=NEGATIVE, height=h, width=w,
                   num_frames=num_frames, num_inference_steps=steps, guidance_scale=guidance,
                   generator=generator, output_type="np", callback_on_step_end=callback)
        video = np.asarray(out.frames[0])
        return np.clip(video * 255 + 0.5, 0, 255).astype(np.uint8)
