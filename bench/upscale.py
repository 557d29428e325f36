"""Upscaler speed on this machine: seconds per output megapixel.

    python bench/upscale.py [--side 512] [--device cpu|cuda]

The classic upscaler (no weights), and Swin2SR at its real size (embed 180, six stages
of six blocks, window 8: the published configs of the CAIDAS checkpoints) with random
weights, which cost the same time as the real ones; its output says nothing of quality.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=512, help="input side in px (a painted plate: 1024)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    from studio.models.upscale_classic import ClassicUpscaler
    from studio.models.upscale_swin2sr import X2, X4, Swin2SRUpscaler

    rng = np.random.default_rng(0)
    image = Image.fromarray((rng.random((args.side, args.side, 3)) * 255).astype(np.uint8))
    for factor in (2, 4):
        size = (args.side * factor, args.side * factor)
        t0 = time.perf_counter()
        ClassicUpscaler().upscale(image, size)
        dt = time.perf_counter() - t0
        print(f"classic ×{factor}: {dt:.2f} s for {size[0]}x{size[1]} ({dt / (size[0] * size[1] / 1e6):.3f} s/MP)")
    import torch
    from transformers import Swin2SRConfig, Swin2SRForImageSuperResolution

    for spec, upsampler in ((X2, "pixelshuffle"), (X4, "nearest+conv")):
        scale = 2 if spec is X2 else 4
        with tempfile.TemporaryDirectory() as tmp:
            config = Swin2SRConfig(embed_dim=180, depths=[6] * 6, num_heads=[6] * 6, window_size=8, upscale=scale,
                                   upsampler=upsampler, image_size=64, mlp_ratio=2.0)
            torch.manual_seed(0)
            Swin2SRForImageSuperResolution(config).save_pretrained(tmp)
            up = Swin2SRUpscaler(spec, tmp, device=args.device)
            small = image.resize((args.side // 2, args.side // 2))  # a smaller input: the CPU is slow
            t0 = time.perf_counter()
            out = up.upscale(small, (small.width * scale, small.height * scale))
            dt = time.perf_counter() - t0
            print(f"swin2sr ×{scale} ({args.device}): {dt:.1f} s for {out.width}x{out.height} "
                  f"({dt / (out.width * out.height / 1e6):.1f} s/MP)")


if __name__ == "__main__":
    main()
