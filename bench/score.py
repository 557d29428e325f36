"""Scoring time per variant: the fidelity check, and CLIP alignment (batched).

    python bench/score.py [--variants 4] [--clip PATH] [--device cpu|cuda]

Without --clip it builds a random-weight CLIP with the ViT-B/32 architecture (the
default scoring model): the same compute as the real one, no download. Prints
seconds per variant.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _vit_b32(root: Path) -> Path:
    import open_clip
    from safetensors.torch import save_file

    path = root / "vit-b-32"
    path.mkdir(parents=True, exist_ok=True)
    cfg = open_clip.get_model_config("ViT-B-32")
    (path / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": {}}))
    model = open_clip.create_model(f"local-dir:{path}")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path / "open_clip_model.safetensors"))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=4)
    ap.add_argument("--clip", type=Path, help="an open_clip model folder (default: random ViT-B/32)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import numpy as np
    import torch

    from studio.imaging.fidelity import fidelity
    from studio.models.devices import torch_device
    from studio.models.score_clip import ClipScorer
    from tests.distort import composite, placed

    device = args.device or torch_device()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    expected = placed()
    variants = [composite(seed=i) for i in range(args.variants)]
    fidelity(variants[0], expected)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        for v in variants:
            fidelity(v, expected)
    per_fid = (time.perf_counter() - t0) / (args.repeat * len(variants))
    print(f"canvas {variants[0].shape[1]}×{variants[0].shape[0]}, product {expected[..., 3].astype(bool).sum():,} px")
    print(f"fidelity (no CLIP): {per_fid * 1000:.0f} ms per variant")

    path = args.clip or _vit_b32(Path(tempfile.mkdtemp()))
    scorer = ClipScorer(path, device)
    scorer.alignment(variants, "warm-up")
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        scorer.alignment(variants, "Professional product photograph of a blue carton on an oak table")
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    per_clip = (time.perf_counter() - t0) / (args.repeat * len(variants))
    print(f"CLIP {'ViT-B/32 (random weights)' if not args.clip else path.name} alignment on {device}, "
          f"batch of {len(variants)}: {per_clip * 1000:.0f} ms per variant")
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        for v in variants:
            fidelity(v, expected, embed=scorer.embed_images)
    per_both = (time.perf_counter() - t0) / (args.repeat * len(variants))
    print(f"fidelity with the CLIP embedding term: {per_both * 1000:.0f} ms per variant")
    print(f"threads: {torch.get_num_threads()}; numpy {np.__version__}")


if __name__ == "__main__":
    main()
