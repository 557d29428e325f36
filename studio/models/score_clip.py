"""CLIP through open_clip, from local weights: prompt alignment of variants, zero-shot
product category, image embeddings for the fidelity check, and an optional
aesthetic head.

The model folder is laid out as on the Hugging Face Hub (`open_clip_config.json`
and `open_clip_model.safetensors`), and open_clip loads it with its `local-dir:`
schema, so nothing is fetched. An aesthetic head, where installed, is a file
`aesthetic.safetensors` (or `.pth`) beside the weights holding linear layers
`layers.N.weight/bias` applied in order to the normalised image embedding, which is
the layout of LAION's improved aesthetic predictor.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from studio.models.base import ModelSpec
from studio.models.holder import HOLDER

_MIT = "https://opensource.org/license/mit"
# open_clip saves its weights under any of these names (open_clip.factory looks for each)
_WEIGHT_FILES = "open_clip_model.safetensors|open_clip_pytorch_model.safetensors|open_clip_pytorch_model.bin|" \
                "open_clip_pytorch_model.pth"
_NOTE = "Commercial use is allowed; keep the licence notice."
# one copy of the weights (the repositories hold four: open_clip's and transformers', each
# as .bin and .safetensors)
_PATTERNS = ("open_clip_config.json", "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors")
# open_clip layout; the small one is the default
WEIGHTS = (
    ModelSpec("clip-vit-b-32", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "score",
              ("open_clip_config.json", _WEIGHT_FILES), 0.61, "MIT", _MIT, "yes", _NOTE, 0.5,
              "CLIP ViT-B/32 (LAION-2B)", allow_patterns=_PATTERNS),
    ModelSpec("clip-vit-l-14", "laion/CLIP-ViT-L-14-laion2B-s32B-b82K", "score",
              ("open_clip_config.json", _WEIGHT_FILES), 1.71, "MIT", _MIT, "yes", _NOTE, 1.0,
              "CLIP ViT-L/14 (LAION-2B)", allow_patterns=_PATTERNS),
    # OpenAI's ViT-L/14: the embeddings LAION's aesthetic predictor was trained on
    ModelSpec("clip-vit-l-14-openai", "timm/vit_large_patch14_clip_224.openai", "score",
              ("open_clip_config.json", _WEIGHT_FILES), 1.71, "MIT", "https://github.com/openai/CLIP/blob/main/LICENSE",
              "yes", _NOTE, 1.0, "CLIP ViT-L/14 (OpenAI)", allow_patterns=_PATTERNS),
)
CLIP_MODELS = tuple(w.id for w in WEIGHTS)
# trained with QuickGELU: timm's open_clip_config.json for OpenAI's ViT-L/14 does not say
# so, and with plain GELU its embeddings (and the aesthetic head on them) are silently wrong
QUICK_GELU = frozenset({"clip-vit-l-14-openai"})
# whose embeddings each model makes: an aesthetic head works only on the ones it was trained on
EMBEDDINGS = {"clip-vit-b-32": "laion2b/ViT-B-32", "clip-vit-l-14": "laion2b/ViT-L-14",
              "clip-vit-l-14-openai": "openai/ViT-L-14"}
# LAION's improved aesthetic predictor (sac+logos+ava1-l14-linearMSE) was trained on these;
# a head file may name others in its safetensors metadata ("clip")
DEFAULT_HEAD_EMBEDDINGS = "openai/ViT-L-14"
PROMPT = "a photo of a {}"


def _aesthetic_layers(path: Path):
    """(linear layers, whose embeddings they were trained on), or None when there is no head."""
    import torch

    for name in ("aesthetic.safetensors", "aesthetic.pth"):
        f = path / name
        if not f.exists():
            continue
        trained_on = DEFAULT_HEAD_EMBEDDINGS
        if f.suffix == ".safetensors":
            from safetensors import safe_open
            from safetensors.torch import load_file

            state = load_file(str(f))
            with safe_open(str(f), "pt") as meta:
                trained_on = (meta.metadata() or {}).get("clip", trained_on)
        else:
            state = torch.load(f, map_location="cpu", weights_only=True)
        idx = sorted({int(k.split(".")[1]) for k in state if k.startswith("layers.") and k.endswith(".weight")})
        if not idx:
            raise ValueError(f"{f} holds no layers.N.weight tensors")
        return [(state[f"layers.{i}.weight"].float(), state[f"layers.{i}.bias"].float()) for i in idx], trained_on
    return None


class ClipScorer:
    """One open_clip model; every method takes a batch."""

    name = "clip"

    def __init__(self, path: Path, device: str = "cpu", model_id: str = "clip-vit-b-32"):
        import open_clip
        import torch

        self.path, self.device = Path(path), device
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            f"local-dir:{self.path}", device=device, force_quick_gelu=model_id in QUICK_GELU)
        self.model.eval()
        if device.startswith("cuda"):
            self.model.half()
        self.tokenizer = open_clip.get_tokenizer(f"local-dir:{self.path}")
        self._torch = torch
        self._lock = threading.Lock()  # one forward at a time per model
        self.notes: list[str] = []
        self.aesthetic = self._fitting_head(_aesthetic_layers(self.path), EMBEDDINGS.get(model_id, model_id))

    def _fitting_head(self, head, embeddings: str):
        """The aesthetic head, if it was trained on this CLIP's embeddings (same model,
        same size); else None, with a note saying why it is left out."""
        if head is None:
            return None
        layers, trained_on = head
        size = int(self.embed_texts(["a photo"]).shape[1])
        wanted = int(layers[0][0].shape[1])
        if trained_on != embeddings or wanted != size:
            self.notes.append(f"aesthetic head left out: it was trained on {trained_on} embeddings ({wanted}-d); "
                              f"this CLIP makes {embeddings} embeddings ({size}-d)")
            return None
        return layers

    def _dtype(self):
        return next(self.model.parameters()).dtype

    def embed_images(self, images: Sequence[Image.Image | np.ndarray]) -> np.ndarray:
        """L2-normalised image embeddings, one row per image."""
        torch = self._torch
        pil = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im, np.uint8)) for im in images]
        batch = torch.stack([self.preprocess(im.convert("RGB")) for im in pil]).to(self.device, self._dtype())
        with self._lock, torch.inference_mode():
            feats = self.model.encode_image(batch).float()
        return torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        tokens = self.tokenizer(list(texts)).to(self.device)
        with self._lock, torch.inference_mode():
            feats = self.model.encode_text(tokens).float()
        return torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()

    def alignment(self, images: Sequence[Image.Image | np.ndarray], text: str) -> list[float]:
        """Cosine similarity of each image with the text (CLIP score / 100)."""
        return [float(x) for x in self.embed_images(images) @ self.embed_texts([text])[0]]

    def zero_shot(self, image: Image.Image | np.ndarray, labels: Sequence[str]) -> list[tuple[str, float]]:
        """Labels with their probabilities, most likely first."""
        sims = self.embed_texts([PROMPT.format(lab) for lab in labels]) @ self.embed_images([image])[0]
        scale = float(self.model.logit_scale.exp().item()) if hasattr(self.model, "logit_scale") else 100.0
        p = np.exp((sims - sims.max()) * scale)
        p /= p.sum()
        return sorted(zip(labels, (float(x) for x in p), strict=True), key=lambda t: -t[1])

    def aesthetic_scores(self, images: Sequence[Image.Image | np.ndarray]) -> list[float] | None:
        """The aesthetic head's rating of each image (LAION's scale is about 1-10), or
        None when no head is installed."""
        if self.aesthetic is None:
            return None
        x = self._torch.from_numpy(self.embed_images(images))
        for w, b in self.aesthetic:
            x = x @ w.T + b
        return [float(v) for v in x[:, 0]]


def get_scorer(model_id: str | None = None) -> ClipScorer | None:
    """The CLIP model chosen in settings, loaded once per process; None when it is not
    installed (scoring then runs without the CLIP terms and says so)."""
    from studio.config import load_settings
    from studio.models.registry import locate

    model_id = model_id or load_settings().clip_model
    if model_id not in CLIP_MODELS:
        raise ValueError(f"unknown CLIP model {model_id!r}; choose from {', '.join(CLIP_MODELS)}")
    path = locate(next(w for w in WEIGHTS if w.id == model_id))
    if path is None:
        return None
    from studio.models.devices import torch_device

    device = torch_device()
    return HOLDER.get((str(path), "clip", device), lambda: ClipScorer(path, device, model_id))
