"""What models exist, where their weights live, and which backend to use.

Weights are found in the models dir (`<models>/<owner>--<name>/` or `<models>/<name>/`)
or in the Hugging Face cache exactly as huggingface_hub leaves it (HF_HOME and
HF_HUB_CACHE are honoured). Nothing here downloads: finding uses local files only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from studio.config import load_settings


@dataclass(frozen=True)
class ModelSpec:
    id: str
    repo_id: str
    kind: str  # "segment" | "generate" | "score"
    files: tuple[str, ...]  # must all be present for the model to count as installed
    size_gb: float
    licence: str


SPECS: dict[str, ModelSpec] = {
    s.id: s
    for s in [
        ModelSpec("rmbg-2.0", "briaai/RMBG-2.0", "segment", ("config.json", "model.safetensors"), 0.9,
                  "CC BY-NC 4.0 (non-commercial; BRIA offers a commercial licence)"),
        ModelSpec("flux-fill-dev", "black-forest-labs/FLUX.1-Fill-dev", "generate",
                  ("model_index.json", "transformer/config.json", "vae/config.json", "text_encoder/config.json",
                   "text_encoder_2/config.json", "tokenizer/tokenizer_config.json", "tokenizer_2/tokenizer_config.json",
                   "scheduler/scheduler_config.json"), 57.9,
                  "FLUX.1 [dev] Non-Commercial License (outputs may be used commercially; accept it on the model page)"),
        # Lighter: SDXL inpainting, ~7 GB in fp16, for 8-12 GB cards.
        ModelSpec("sdxl-inpaint", "diffusers/stable-diffusion-xl-1.0-inpainting-0.1", "generate",
                  ("model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
                   "text_encoder_2/config.json", "scheduler/scheduler_config.json"), 13.9,
                  "CreativeML Open RAIL++-M"),
        # CLIP for scoring and describing (open_clip layout); the small one is the default
        ModelSpec("clip-vit-b-32", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "score",
                  ("open_clip_config.json", "open_clip_model.safetensors"), 0.6, "MIT"),
        ModelSpec("clip-vit-l-14", "laion/CLIP-ViT-L-14-laion2B-s32B-b82K", "score",
                  ("open_clip_config.json", "open_clip_model.safetensors"), 1.7, "MIT"),
    ]
}


def _candidates(spec: ModelSpec, models_dir: Path) -> list[Path]:
    owner_name = spec.repo_id.replace("/", "--")
    return [models_dir / owner_name, models_dir / spec.repo_id.split("/")[-1]]


def _complete(path: Path, spec: ModelSpec) -> bool:
    return all((path / f).exists() for f in spec.files)


def locate(spec: ModelSpec | str, models_dir: Path | None = None) -> Path | None:
    """The folder holding the model's files, or None when it is not installed."""
    spec = SPECS[spec] if isinstance(spec, str) else spec
    models_dir = models_dir or load_settings().models_path()
    for path in _candidates(spec, models_dir):
        if path.is_dir() and _complete(path, spec):
            return path
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        path = Path(snapshot_download(spec.repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    return path if _complete(path, spec) else None


def model_table(models_dir: Path | None = None) -> list[dict]:
    """Every registry entry with where it is installed (or that it is missing)."""
    rows = []
    for spec in SPECS.values():
        path = locate(spec, models_dir)
        rows.append({"id": spec.id, "repo_id": spec.repo_id, "kind": spec.kind, "installed": path is not None,
                     "path": str(path) if path else None, "size_gb": spec.size_gb, "licence": spec.licence})
    return rows


class DownloadError(RuntimeError):
    pass


def download(model_id: str, token: str | None = None, models_dir: Path | None = None) -> Path:
    """Fetch a model into the models dir, explicitly (the only place Studio downloads).
    huggingface_hub shows progress and resumes an interrupted download."""
    if model_id not in SPECS:
        raise DownloadError(f"unknown model {model_id!r}; known: {', '.join(SPECS)}")
    spec = SPECS[model_id]
    target = (models_dir or load_settings().models_path()) / spec.repo_id.replace("/", "--")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    # the variable as it is now, not only as it was when huggingface_hub was imported
    offline = constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "yes",
                                                                                                 "true")
    if offline:
        raise DownloadError(f"offline (HF_HUB_OFFLINE is set): cannot download {spec.repo_id}; unset it, or copy "
                            f"the files into {target}")
    try:
        snapshot_download(spec.repo_id, local_dir=target, token=token)
    except LocalEntryNotFoundError as exc:
        raise DownloadError(f"cannot reach the Hugging Face Hub to download {spec.repo_id}: are you online?") from exc
    except HfHubHTTPError as exc:
        raise DownloadError(f"the Hub refused {spec.repo_id}: {exc}. Gated models need you to accept the licence "
                            "on the model page and a token (HF_TOKEN or --token).") from exc
    except OSError as exc:
        raise DownloadError(f"download of {spec.repo_id} failed: {exc}") from exc
    return target


def remove(model_id: str, models_dir: Path | None = None) -> Path:
    """Delete an installed model's folder from the models dir. A model found only in
    the Hugging Face cache is left alone: other programs may share that cache."""
    import shutil

    if model_id not in SPECS:
        raise DownloadError(f"unknown model {model_id!r}; known: {', '.join(SPECS)}")
    models_dir = (models_dir or load_settings().models_path()).resolve()
    path = locate(model_id, models_dir)
    if path is None:
        raise DownloadError(f"{model_id} is not installed")
    if not path.resolve().is_relative_to(models_dir):
        raise DownloadError(f"{model_id} lives in {path}, outside Studio's models folder; remove it there")
    shutil.rmtree(path)
    return path


SEGMENTERS = ("auto", "classic", "rmbg")


class BackendUnavailable(RuntimeError):
    pass


def pick_segmenter(name: str = "auto"):
    """The segmenter to use: `auto` takes RMBG-2.0 when installed, else the classic one."""
    from studio.models.segment_classic import ClassicSegmenter

    if name not in SEGMENTERS:
        raise ValueError(f"unknown segmenter {name!r}; choose from {', '.join(SEGMENTERS)}")
    if name == "classic":
        return ClassicSegmenter()
    path = locate("rmbg-2.0")
    if path is None:
        if name == "rmbg":
            raise BackendUnavailable(
                "RMBG-2.0 is not installed: put briaai/RMBG-2.0 in the models folder "
                f"({load_settings().models_path()}) or the Hugging Face cache")
        return ClassicSegmenter()
    from studio.models.segment_rmbg import RMBGSegmenter

    return RMBGSegmenter(path)
