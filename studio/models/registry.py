"""Every backend Studio has, listed once; where their weights live; which one to use.

A backend is a class in its own file; the tables below name it by import path, so
listing the engines (`studio --help`, the UI's dropdown) imports none of them, and a
backend's own module is imported only when it is used. Adding a model is one file
plus one line here.

Where weights are and whether they are whole is `weights.py`'s business; nothing here
downloads but `download`, which fetches only what each model's `allow_patterns` select.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from studio.config import UPSCALES, load_settings
from studio.models import weights as on_disk
from studio.models.base import BackendUnavailable, Generator, ModelSpec

# engine id → generator class; the order is `auto`'s order of preference among the
# local models a person's declared use allows
GENERATORS: dict[str, str] = {
    "classic": "studio.models.generate_classic:ClassicGenerator",
    "klein": "studio.models.generate_klein:KleinGenerator",
    "sdxl": "studio.models.generate_sdxl:SDXLInpaintGenerator",
    "flux": "studio.models.generate_flux:FluxFillGenerator",
    "cloud": "studio.models.generate_cloud:BFLCloudGenerator",
}
# segmenter id → class; the order is `auto`'s order of preference among the models a
# person's declared use allows (the classic one, which needs no weights, comes last)
SEGMENTERS: dict[str, str] = {
    "birefnet": "studio.models.segment_birefnet:BiRefNetSegmenter",
    "rmbg": "studio.models.segment_rmbg:RMBGSegmenter",
    "birefnet-lite": "studio.models.segment_birefnet:BiRefNetLiteSegmenter",
    "classic": "studio.models.segment_classic:ClassicSegmenter",
}
# modules whose WEIGHTS / CLIP_WEIGHTS list what else can be installed (scorers)
SCORERS: tuple[str, ...] = ("studio.models.score_clip",)
# image-to-video models for clips (studio/clips/)
VIDEO: tuple[str, ...] = ("studio.models.video_wan",)
# super-resolution models (their WEIGHTS); the classic upscaler needs none
UPSCALER_MODULES: tuple[str, ...] = ("studio.models.upscale_swin2sr",)
# depth estimation for backdrop photos (their WEIGHTS); without one the classical surface finder runs
DEPTH: tuple[str, ...] = ("studio.models.depth_anything",)


def _load(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def generator(engine: str) -> Generator:
    """An instance of the generator behind `engine`."""
    if engine not in GENERATORS:
        raise ValueError(f"engine {engine!r} is not available; use {', '.join(GENERATORS)}")
    return _load(GENERATORS[engine])()


def engines() -> list[str]:
    return list(GENERATORS)


def specs() -> dict[str, ModelSpec]:
    """Every model that can be installed, by id (what `studio models` lists)."""
    out: dict[str, ModelSpec] = {}
    for path in SEGMENTERS.values():
        if (w := getattr(_load(path), "weights", None)) is not None:
            out[w.id] = w
    for path in GENERATORS.values():
        if (w := _load(path).weights) is not None:
            out[w.id] = w
    for module in SCORERS:
        for w in importlib.import_module(module).WEIGHTS:
            out[w.id] = w
    for module in VIDEO:
        w = importlib.import_module(module).WEIGHTS
        out[w.id] = w
    for module in UPSCALER_MODULES:
        for w in importlib.import_module(module).WEIGHTS:
            out[w.id] = w
    for module in DEPTH:
        w = importlib.import_module(module).WEIGHTS
        out[w.id] = w
    return out


def _spec(spec: ModelSpec | str) -> ModelSpec:
    if isinstance(spec, ModelSpec):
        return spec
    known = specs()
    if spec not in known:
        raise KeyError(f"unknown model {spec!r}; known: {', '.join(known)}")
    return known[spec]


def locate(spec: ModelSpec | str, models_dir: Path | None = None) -> Path | None:
    """The folder holding every file the model's loader reads, or None (`weights.locate`
    for a model named by id)."""
    return on_disk.locate(_spec(spec), models_dir)


def model_table(models_dir: Path | None = None) -> list[dict]:
    """Every registry entry with where it is installed (or that it is missing)."""
    rows = []
    for spec in specs().values():
        found = on_disk.find(spec, models_dir)
        rows.append({"id": spec.id, "title": spec.title or spec.id, "repo_id": spec.repo_id, "kind": spec.kind,
                     "installed": found.complete, "status": found.status, "missing": list(found.missing),
                     "path": str(found.path) if found.path else None, "size_gb": spec.size_gb,
                     "allow_patterns": list(spec.allow_patterns), "ignore_patterns": list(spec.ignore_patterns),
                     "vram_gb": spec.vram_gb, "licence": spec.licence, "licence_url": spec.licence_url,
                     "commercial_use": spec.commercial_use, "licence_note": spec.licence_note})
    return rows


class DownloadError(RuntimeError):
    pass


def download(model_id: str, token: str | None = None, models_dir: Path | None = None) -> Path:
    """Fetch a model into the models dir, explicitly (the only place Studio downloads),
    only the files its patterns select. huggingface_hub shows progress and resumes an
    interrupted download, in the Hugging Face cache when that is where it stopped."""
    known = specs()
    if model_id not in known:
        raise DownloadError(f"unknown model {model_id!r}; known: {', '.join(known)}")
    spec = known[model_id]
    models_dir = models_dir or load_settings().models_path()
    target = models_dir / spec.repo_id.replace("/", "--")
    # a download that stopped half-way in the Hugging Face cache is finished there
    partial = on_disk.find(spec, models_dir)
    in_cache = not partial.complete and partial.path is not None and partial.path.is_relative_to(
        on_disk.hub_cache_dir(spec))
    where = {} if in_cache else {"local_dir": target}
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    # the variable as it is now, not only as it was when huggingface_hub was imported
    offline = constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "yes",
                                                                                                 "true")
    if offline:
        raise DownloadError(f"offline (HF_HUB_OFFLINE is set): cannot download {spec.repo_id}; unset it, or copy "
                            f"the files into {target}")
    try:
        got = snapshot_download(spec.repo_id, token=token, allow_patterns=list(spec.allow_patterns) or None,
                                ignore_patterns=list(spec.ignore_patterns) or None, **where)
    except LocalEntryNotFoundError as exc:
        raise DownloadError(f"cannot reach the Hugging Face Hub to download {spec.repo_id}: are you online?") from exc
    except HfHubHTTPError as exc:
        raise DownloadError(f"the Hub refused {spec.repo_id}: {exc}. Gated models need you to accept the licence "
                            "on the model page and a token (HF_TOKEN or --token).") from exc
    except OSError as exc:
        raise DownloadError(f"download of {spec.repo_id} failed: {exc}") from exc
    return Path(got) if in_cache else target


def remove(model_id: str, models_dir: Path | None = None) -> Path:
    """Delete an installed model's folder from the models dir. A model found only in
    the Hugging Face cache is left alone: other programs may share that cache."""
    import shutil

    known = specs()
    if model_id not in known:
        raise DownloadError(f"unknown model {model_id!r}; known: {', '.join(known)}")
    models_dir = (models_dir or load_settings().models_path()).resolve()
    path = on_disk.find(known[model_id], models_dir).path  # an incomplete download can go too
    if path is None:
        raise DownloadError(f"{model_id} is not installed")
    if not path.resolve().is_relative_to(models_dir):
        raise DownloadError(f"{model_id} lives in {path}, outside Studio's models folder; remove it there")
    shutil.rmtree(path)
    return path


# -- choosing a backend ------------------------------------------------------------

def segmenter_choices() -> list[str]:
    return ["auto", *SEGMENTERS]


def segmenter_class(name: str):
    if name not in SEGMENTERS:
        raise ValueError(f"unknown segmenter {name!r}; choose from {', '.join(segmenter_choices())}")
    return _load(SEGMENTERS[name])


def licensed(weights: ModelSpec | None, usage: str, held: tuple[str, ...] = ()) -> bool:
    """Whether the declared use may run this model: its licence allows it, or the person
    recorded that they hold the licence its maker sells (`licences_held` in the settings)."""
    return weights is None or weights.allowed_for(usage) or weights.id in held


def auto_segmenters(usage: str, held: tuple[str, ...] = ()) -> list[str]:
    """The installed segmenters `auto` may pick under this declared use, best first
    (always ending with the classic one)."""
    out = []
    for name in SEGMENTERS:
        weights = segmenter_class(name).weights
        if weights is None or (licensed(weights, usage, held) and locate(weights) is not None):
            out.append(name)
    return out


def pick_segmenter(name: str = "auto", usage: str = "commercial", held: tuple[str, ...] = ()):
    """The segmenter to use. `auto`: the first installed model the declared use allows
    (BiRefNet before RMBG-2.0, which is non-commercial), else the classic one. A model
    named explicitly must be installed (BackendUnavailable says how), whatever its licence."""
    if name == "auto":
        name = auto_segmenters(usage, held)[0]
    cls = segmenter_class(name)
    if cls.weights is None:
        return cls()
    path = locate(cls.weights)
    if path is None:
        w = cls.weights
        why = on_disk.unavailable_reason(w)
        if on_disk.find(w).path is None:
            why += f", or put {w.repo_id} in the models folder ({load_settings().models_path()}) or the Hugging Face cache"
        raise BackendUnavailable(why)
    return cls(path)


def pick_upscaler(setting: str, factor: float, photo: bool = False):
    """The upscaler for an enlargement by `factor`: None for `off`; a named one (which
    must be installed); `auto`: for a photo (phone JPEGs) the compressed-JPEG ×4 model
    first, for a painted plate the ×2 model up to 2× and the ×4 real-world one beyond,
    each where installed, else the classic upscaler (no weights)."""
    from studio.models.upscale_classic import ClassicUpscaler

    if setting == "off":
        return None
    if setting == "classic":
        return ClassicUpscaler()
    from studio.models.upscale_swin2sr import X2, X4, X4_JPEG, Swin2SRUpscaler

    by_id = {w.id: w for w in (X2, X4, X4_JPEG)}
    if setting != "auto":
        if setting not in by_id:
            raise ValueError(f"unknown upscaler {setting!r}; choose from {', '.join(UPSCALES)}")
        path = locate(by_id[setting])
        if path is None:
            raise BackendUnavailable(on_disk.unavailable_reason(by_id[setting]))
        return Swin2SRUpscaler(by_id[setting], path)
    order = [X4_JPEG, X4, X2] if photo else ([X2, X4, X4_JPEG] if factor <= 2 else [X4, X2, X4_JPEG])
    for spec in order:
        path = locate(spec)
        if path is not None:
            return Swin2SRUpscaler(spec, path)
    return ClassicUpscaler()


def local_generators() -> list[str]:
    """Engines that run a model on this machine's GPU, installed or not, in order of preference."""
    return [e for e in GENERATORS if _load(GENERATORS[e]).local_gpu]


def cloud_generators() -> list[str]:
    return [e for e in GENERATORS if _load(GENERATORS[e]).device == "network"]


def _installed(engine: str) -> bool:
    return generator(engine).unavailable() is None


def _usable_locals(usage: str, held: tuple[str, ...]) -> list[str]:
    return [e for e in local_generators() if licensed(_load(GENERATORS[e]).weights, usage, held) and _installed(e)]


def pick_generator(engine: str, policy: str, usage: str = "commercial", held: tuple[str, ...] = ()) -> str:
    """The engine a shoot runs: a named one as it is. `auto` (unless the policy is
    cloud-only) takes the first installed local model that the declared use allows and
    that has a plan for this card (klein 4B, then SDXL inpainting, then FLUX.1 Fill only
    under `personal` use or with BFL's licence held), when a CUDA GPU is present; else
    the cloud, when a key is set and the policy allows it; else the classic compositor."""
    if engine != "auto":
        return engine
    cloud = next((e for e in cloud_generators() if _installed(e)), None)
    if policy == "cloud-only" and cloud:
        return cloud
    local = _usable_locals(usage, held)
    if policy != "cloud-only" and local:
        from studio.models.devices import detect_card  # imports torch: only when a local model exists

        card = detect_card()
        if card is not None:
            for e in local:
                if generator(e).plan(card, 1024 * 1024) is not None:  # e.g. no FLUX.1 on a card without bf16
                    return e
    if policy == "cloud-fallback" and cloud:
        return cloud
    return "classic"


def fallback_engine(engine: str, policy: str, allow_cpu: bool, usage: str = "commercial",
                    held: tuple[str, ...] = ()) -> str | None:
    """Under the cloud-fallback policy, where a variant goes when its engine failed: a
    local model → the cloud (with a key); the cloud → a local model that is installed
    and allowed, with a GPU present (or `allow_cpu`)."""
    if policy != "cloud-fallback":
        return None
    if engine in local_generators():
        return next((e for e in cloud_generators() if _installed(e)), None)
    from studio.models.devices import detect_card

    if detect_card() is None and not allow_cpu:
        return None
    return next(iter(_usable_locals(usage, held)), None)
