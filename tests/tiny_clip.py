"""A tiny random-config open_clip model saved in the Hub's layout, for the loader.

Built with open_clip's own classes from a config (nothing downloaded); the text side
uses open_clip's bundled BPE tokenizer, as the real LAION checkpoints do."""

from __future__ import annotations

import json
from pathlib import Path

CONFIG = {
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    },
    "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
}


def build_tiny_clip(root: Path, repo: str = "laion--CLIP-ViT-B-32-laion2B-s34B-b79K", aesthetic: bool = False,
                    seed: int = 0, head_for: str | None = "laion2b/ViT-B-32", head_in: int | None = None) -> Path:
    """`head_for`: the embeddings the aesthetic head says it was trained on (None: no
    metadata, as LAION's own file, which means OpenAI ViT-L/14); `head_in`: its input size."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    path = root / repo
    path.mkdir(parents=True, exist_ok=True)
    (path / "open_clip_config.json").write_text(json.dumps(CONFIG))
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{path}")  # random init: no weights there yet
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path / "open_clip_model.safetensors"))
    if aesthetic:  # LAION's head shape (linear layers only), scaled down
        dims = [head_in or CONFIG["model_cfg"]["embed_dim"], 16, 8, 1]
        head = {}
        for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
            head[f"layers.{i * 2}.weight"] = torch.randn(b, a) * 0.3
            head[f"layers.{i * 2}.bias"] = torch.randn(b) * 0.1
        save_file(head, str(path / "aesthetic.safetensors"), metadata={"clip": head_for} if head_for else None)
    return path
