"""Settings and paths.

Everything Studio writes lives under one data dir: the platform's user data dir
(platformdirs), or `STUDIO_HOME` when set. Settings are a JSON file there that a
person can read and edit; unknown keys are kept, bad values fall back to defaults
with a warning rather than stopping the app.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

log = logging.getLogger(__name__)

APP_NAME = "Studio"
SETTINGS_FILE = "settings.json"


def data_dir() -> Path:
    """The root of everything Studio stores (created on first use)."""
    home = os.environ.get("STUDIO_HOME", "").strip()
    if home:
        path = Path(home).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)  # the owner's only (Store tightens an older one)
    return path


@dataclass
class Limits:
    max_upload_bytes: int = 60 * 1024 * 1024
    # 100 MP: above any phone or DSLR photo, below what would exhaust memory.
    max_pixels: int = 100_000_000
    min_side: int = 256
    # one request to the server's batch route (several photos); other routes allow a
    # few photos' worth (the server refuses more before reading it)
    max_batch_bytes: int = 1024 * 1024 * 1024


@dataclass
class Settings:
    models_dir: str = ""  # empty: <data dir>/models
    limits: Limits = field(default_factory=Limits)
    default_variants: int = 4
    default_steps: int = 28
    default_guidance: float = 30.0
    default_preset: str = "shopify"
    default_scene: str = "white-marketplace"
    engine: str = "auto"  # auto | flux | cloud | classic
    cloud_policy: str = "local-only"  # local-only | cloud-only | cloud-fallback
    cloud_provider: str = "bfl"
    budget: float = 10.0  # money the cloud may spend, in the price table's currency
    theme: str = "light"  # light | dark | system
    vram_plan: str = "auto"  # auto, or a plan id from `studio models` (bf16-resident, nf4-model-offload, ...)
    clip_model: str = "clip-vit-b-32"  # for scoring and describing, where installed
    fidelity_threshold: float = 0.75  # a variant scoring under it is regenerated
    # how a plate painted below the canvas size, and a product photographed smaller than
    # it is shown, are enlarged: auto (the best installed upscaler, else the classic one),
    # off (plain resampling: the product's pixels exactly the photo's), or an upscaler id
    upscale: str = "auto"
    # 0..1: how far the product's shading follows the plate's light (exposure, a soft
    # directional ramp; lightness only, its colour kept); 0: its own pixels exactly
    light_match: float = 0.0
    gate_attempts: int = 3  # generations per variant before it is given up on
    # folders on this computer the app's Batch tab may read catalogs from and write shots
    # to (besides uploads and the data dir); the CLI is not limited by it
    batch_folders: list = field(default_factory=list)
    # what the pictures are for: "commercial" (selling; our users' default) or "personal".
    # `auto` never picks a model whose licence forbids the declared use
    usage: str = "commercial"
    # model ids whose commercial licence you bought from its maker (e.g. "flux-fill-dev" with
    # BFL's, "rmbg-2.0" with BRIA's): `auto` may then pick them under commercial use
    licences_held: list = field(default_factory=list)
    # the job API (/api/v1): a key on every call, also from this computer (127.0.0.1)
    # unless turned off here; callbacks to loopback or private addresses only when
    # allowed; how many of a key's jobs may be queued or running at once (its queue's
    # depth: a burst waits on disk, as rows and stored photos, and runs at the machine's pace)
    api_keys_on_loopback: bool = True
    api_private_callbacks: bool = False
    api_queue_depth: int = 1000
    # names this server answers to besides 127.0.0.1, localhost and any IP address (a
    # foreign name is DNS rebinding: some web page's own name pointed at this machine)
    trusted_hosts: list = field(default_factory=list)
    # web pages (origins, e.g. "https://shop.example") that may call the server from a
    # browser: CORS and state-changing requests; the page's own origin always may
    allowed_origins: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept as-is

    def models_path(self) -> Path:
        path = Path(self.models_dir).expanduser() if self.models_dir else data_dir() / "models"
        path.mkdir(parents=True, exist_ok=True)
        return path


def settings_path() -> Path:
    return data_dir() / SETTINGS_FILE


# Settings this process takes from elsewhere, over its own file: a cluster worker shoots
# with the head's (what may be used, what makes a shot), not its machine's.
_OVERRIDES: dict = {}


def override_settings(values: dict) -> None:
    """From now on `load_settings` returns these values over the file's (all of this process)."""
    _OVERRIDES.clear()
    _OVERRIDES.update(values)


def load_settings() -> Settings:
    settings = _read_settings()
    for name, value in _OVERRIDES.items():
        setattr(settings, name, value)
    return settings


def _read_settings() -> Settings:
    path = settings_path()
    if not path.exists():
        return Settings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("top level is not an object")
    except (OSError, ValueError) as exc:
        log.warning("settings file %s is unreadable (%s); using defaults", path, exc)
        return Settings()
    return _from_dict(raw)


USAGES = ("commercial", "personal")
# the `upscale` values: auto (the best installed upscaler, else classic), off (plain
# resampling: the product's pixels exactly the photo's), or an upscaler's id
# seeds as the generators take them (a 32-bit unsigned integer)
MAX_SEED = 2**32 - 1
UPSCALES = ("auto", "off", "classic", "swin2sr-x2", "swin2sr-x4", "swin2sr-x4-jpeg")
MAX_BUDGET = 1_000_000.0  # more than anyone spends on images; larger "budgets" are typos or attempts to switch it off
# value checks beyond the type: (test, what a good value is)
_RANGES = {
    "budget": (lambda v: math.isfinite(v) and 0 <= v <= MAX_BUDGET, f"a number from 0 to {MAX_BUDGET:g}"),
    "default_variants": (lambda v: 1 <= v <= 16, "a whole number from 1 to 16"),
    "default_steps": (lambda v: 1 <= v <= 200, "a whole number from 1 to 200"),
    "default_guidance": (lambda v: math.isfinite(v) and 0 <= v <= 100, "a number from 0 to 100"),
    "fidelity_threshold": (lambda v: math.isfinite(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "gate_attempts": (lambda v: 1 <= v <= 10, "a whole number from 1 to 10"),
    "batch_folders": (lambda v: all(isinstance(x, str) and x.strip() for x in v), "a list of folder paths"),
    "usage": (lambda v: v in USAGES, "commercial or personal"),
    "light_match": (lambda v: math.isfinite(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "upscale": (lambda v: v in UPSCALES, "auto, off, classic, swin2sr-x2, swin2sr-x4 or swin2sr-x4-jpeg"),
    "licences_held": (lambda v: all(isinstance(x, str) for x in v), "a list of model ids"),
    "api_queue_depth": (lambda v: 1 <= v <= 100_000, "a whole number from 1 to 100000"),
    "trusted_hosts": (lambda v: all(isinstance(x, str) and x.strip() and "/" not in x for x in v),
                      "a list of host names"),
    "allowed_origins": (lambda v: all(isinstance(x, str) and x.startswith(("http://", "https://")) for x in v),
                        "a list of origins such as https://shop.example"),
}


def _from_dict(raw: dict) -> Settings:
    """Settings from the file's JSON: a value of the wrong type or out of range falls
    back to its default, with a warning naming it; nothing here raises."""
    defaults = Settings()
    known = {f.name for f in fields(Settings)} - {"extra", "limits"}
    if "api_max_in_flight" in raw:  # the depth's former name: one set by hand stays, the old default 8 goes
        raw = dict(raw)
        old = raw.pop("api_max_in_flight")
        if old != 8 and "api_queue_depth" not in raw:
            raw["api_queue_depth"] = old
    kwargs: dict = {}
    for name in known:
        if name in raw:
            want = type(getattr(defaults, name))
            value = raw[name]
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            ok = isinstance(value, want) and not (want in (int, float) and isinstance(value, bool))
            rule = _RANGES.get(name)
            if ok and rule is not None and not rule[0](value):
                log.warning("settings: %s=%r must be %s; using %r", name, value, rule[1], getattr(defaults, name))
            elif ok:
                kwargs[name] = value
            else:
                log.warning("settings: %s=%r is not a %s; using %r", name, value, want.__name__, getattr(defaults, name))
    limits = Limits()
    given = raw.get("limits")
    if given is not None and not isinstance(given, dict):
        log.warning("settings: limits=%r is not an object; using the default limits", given)
        given = None
    for f in fields(Limits):
        v = (given or {}).get(f.name)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            setattr(limits, f.name, v)
    extra = {k: v for k, v in raw.items() if k not in known | {"limits", "extra"}}
    return Settings(**kwargs, limits=limits, extra=extra)


def check(settings: Settings) -> None:
    """Raise ValueError naming the first value that is out of range (what the app and the
    API refuse to save: a NaN or negative budget would switch the budget off)."""
    for name, (ok, what) in _RANGES.items():
        value = getattr(settings, name)
        want = type(getattr(Settings(), name))
        if isinstance(value, bool) or not isinstance(value, want if want is not float else int | float) or not ok(value):
            raise ValueError(f"{name} must be {what}, not {value!r}")


def save_settings(settings: Settings) -> Path:
    """Write atomically so a crash never leaves half a settings file; out-of-range
    values are refused (ValueError) and nothing is written."""
    check(settings)
    data = asdict(settings)
    extra = data.pop("extra")
    data.update(extra)
    path = settings_path()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)
    return path
