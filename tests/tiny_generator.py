"""A generator that is not part of Studio: one file, registered with one line
(`registry.GENERATORS["tiny"] = "tests.tiny_generator:TinyGenerator"`), to show that
this is all a new model takes. It inpaints like the model backends do (the canvas
and mask come from the stage): the painted area becomes a vertical gradient whose
colours come from the seed and the prompt's length, so its output depends on what
the pipeline handed it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from studio.models.base import Generated, GenerateRequest, Generator

CALLS: list[dict] = []


class TinyGenerator(Generator):
    title = "tiny test generator"
    canvas_multiple = 8

    def generate(self, request: GenerateRequest) -> Generated:
        canvas = np.asarray(request.canvas, np.float32)
        paint = np.asarray(request.mask) > 127
        rng = np.random.default_rng(request.seed + len(request.prompt))
        top, bottom = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
        t = np.linspace(0, 1, canvas.shape[0], dtype=np.float32)[:, None, None]
        scene = top * (1 - t) + bottom * t
        out = np.where(paint[..., None], scene, canvas)
        if request.on_progress:
            request.on_progress(1, 1)
        CALLS.append({"seed": request.seed, "prompt": request.prompt, "size": request.canvas.size})
        return Generated(Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8)), request.box,
                         {"painted": round(float(paint.mean()), 3)})


class BlackOnceGenerator(TinyGenerator):
    """Its first image is all black (what fp16 does to some models), then it works."""

    title = "blackout"
    max_attempts = 2

    def generate(self, request: GenerateRequest) -> Generated:
        out = super().generate(request)
        if len(CALLS) == 1:
            out.image = Image.new("RGB", out.image.size)
        return out
