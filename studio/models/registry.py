"""Every backend Studio has, listed once; where their weights live; which one to use.

A backend is a class in its own file; the tables below name it by import path, so
listing the engines (`studio --help`, the UI's dropdown) imports none of them, and a
backend's own module is imported only when it is used. Adding a model is one file
plus one line here.

Weights are found in the models dir (`<models>/<owner>--<name>/` or `<models>/<name>/`)
or in the Hugging Face cache exactly as huggingface_hub leaves it (HF_HOME and
HF_HUB_CACHE are honoured). Nothing here downloads but `download`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from studio.config import load_settings
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
    return out


def _spec(spec: ModelSpec | str) -> ModelSpec:
    if isinstance(spec, ModelSpec):
        return spec
    known = specs()
    if spec not in known:
        raise KeyError(f"unknown model {spec!r}; known: {', '.join(known)}")
    return known[spec]


def _candidates(spec: ModelSpec, models_dir: Path) -> list[Path]:
    owner_name = spec.repo_id.replace("/", "--")
    return [models_dir / owner_name, models_dir / spec.repo_id.split("/")[-1]]


def _complete(path: Path, spec: ModelSpec) -> bool:
    """Every file the model needs is there (`a|b` in `files`: either of them)."""
    return all(any((path / alt).exists() for alt in f.split("|")) for f in spec.files)


# locate() answers, per (model, models folder): a shoot asks for the CLIP model at every
# stage, and the Hugging Face cache lookup costs ~0.1 s. A found folder is believed while
# it exists; "not installed" only while none of the places it could be exists at all.
_LOCATED: dict[tuple[str, str], Path | None] = {}


def _hub_cache_dir(spec: ModelSpec) -> Path:
    from huggingface_hub import constants  # the module alone: milliseconds

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE) / f"models--{spec.repo_id.replace('/', '--')}"


def _exists(path: Path) -> bool:
    """Whether the path is there; a folder this user may not look into counts as not there."""
    try:
        return path.exists()
    except OSError:
        return False


def locate(spec: ModelSpec | str, models_dir: Path | None = None) -> Path | None:
    """The folder holding the model's files, or None when it is not installed."""
    spec = _spec(spec)
    models_dir = models_dir or load_settings().models_path()
    key = (spec.id, str(models_dir))
    if key in _LOCATED:
        known = _LOCATED[key]
        if known is not None and known.is_dir():
            return known
        if known is None and not any(_exists(p) for p in [*_candidates(spec, models_dir), _hub_cache_dir(spec)]):
            return None
    path = _locate(spec, models_dir)
    _LOCATED[key] = path
    return path


def _locate(spec: ModelSpec, models_dir: Path) -> Path | None:
    for path in _candidates(spec, models_dir):
        if _exists(path) and path.is_dir() and _complete(path, spec):
            return path
    try:
        if not _exists(_hub_cache_dir(spec)):
            return None  # not in the Hugging Face cache: no need to load its client to say so
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
    for spec in specs().values():
        path = locate(spec, models_dir)
        rows.append({"id": spec.id, "title": spec.title or spec.id, "repo_id": spec.repo_id, "kind": spec.kind,
                     "installed": path is not None, "path": str(path) if path else None, "size_gb": spec.size_gb,
                     "vram_gb": spec.vram_gb, "licence": spec.licence, "licence_url": spec.licence_url,
                     "commercial_use": spec.commercial_use, "licence_note": spec.licence_note})
    return rows


class DownloadError(RuntimeError):
    pass


def download(model_id: str, token: str | None = None, models_dir: Path | None = None) -> Path:
    """Fetch a model into the models dir, explicitly (the only place Studio downloads).
    huggingface_hub shows progress and resumes an interrupted download."""
    known = specs()
    if model_id not in known:
        raise DownloadError(f"unknown model {model_id!r}; known: {', '.join(known)}")
    spec = known[model_id]
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

    known = specs()
    if model_id not in known:
        raise DownloadError(f"unknown model {model_id!r}; known: {', '.join(known)}")
    models_dir = (models_dir or load_settings().models_path()).resolve()
    path = locate(known[model_id], models_dir)
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
        raise BackendUnavailable(
            f"{w.title or w.id} is not installed: `studio models download {w.id}`, or put {w.repo_id} in the "
            f"models folder ({load_settings().models_path()}) or the Hugging Face cache")
    return cls(path)


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
