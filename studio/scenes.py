"""Scene templates: TOML files in `scenes/` (shipped) and `<data dir>/scenes/` (the
user's, overriding by id). Each is validated into a `Scene`; a bad file gives one
error naming the file and the field."""

from __future__ import annotations

import math
import re
import stat
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.shipped import shipped_dir

SHIPPED_DIR = shipped_dir("scenes")
CATEGORIES = ("studio", "lifestyle", "seasonal", "marketplace")
ANCHORS = ("center", "bottom-center", "top-center", "left-center", "right-center")
BACKDROPS = ("flat", "gradient", "sweep", "wall-floor")
TEXTURES = ("none", "marble", "wood", "concrete", "linen", "sand", "paper", "stone")
# the set a scene's name promises (classic_plate, classic_props): a podium under the product, a
# window's light, a garden behind, a tiled wall over a shelf's or a counter's front edge, sea and
# sky behind a beach, fairy lights out of focus
SETS = ("none", "podium", "window", "garden", "shelf", "counter", "sea", "lights")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_ASPECT = 4.0  # 1:4 to 4:1: wider canvases leave the product a sliver
# a canvas's long side may be asked for between these (tiny ones for previews and tests;
# above 4096 px no export needs it, and memory runs out)
LONG_SIDE = (64, 4096)


class SceneError(ValueError):
    pass


@dataclass(frozen=True)
class Prompt:
    surface: str
    background: str
    props: str = ""
    lighting: str = ""
    camera: str = ""
    mood: str = ""
    negative: str = ""
    preservation: tuple[str, ...] = ()


@dataclass(frozen=True)
class Placement:
    anchor: str = "bottom-center"
    scale: float = 0.6  # the product's longer side as a share of the frame's
    margin: float = 0.08  # kept clear at the frame's edges, as a share of its size
    floor: float = 0.82  # where the product stands (bottom-anchored), as a share of height
    exact: bool = False  # a share the delivered frame fixes (Amazon main's 85%): variants neither move nor scale it


@dataclass(frozen=True)
class Lighting:
    direction: float = 135.0  # key light azimuth in degrees: 0 from the right, 90 from above, 180 from the left
    softness: float = 0.6  # 0 hard, 1 very soft
    temperature: float = 5500.0  # kelvin


@dataclass(frozen=True)
class Shadow:
    contact: float = 0.6  # darkness of the contact shadow under the product
    cast: float = 0.3  # darkness of the cast shadow thrown away from the light
    length: float = 0.35  # cast shadow length as a share of the product's height


@dataclass(frozen=True)
class Reflection:
    strength: float = 0.0  # 0 none, 1 mirror
    falloff: float = 0.25  # fades out over this share of the product's height


@dataclass(frozen=True)
class Prop:
    """A simple object the classic compositor sets beside the product (models read the
    prompt's props instead): where it goes is each variant's own."""

    shape: str = "sphere"  # sphere, block, disc (lying flat)
    color: str = "#d9d2c7"
    size: float = 0.12  # its height as a share of the product's


@dataclass(frozen=True)
class Classic:
    backdrop: str = "sweep"
    colors: tuple[str, ...] = ("#f2f2f2", "#d9d9d9")
    texture: str = "none"
    texture_color: str = "#808080"
    texture_strength: float = 0.5
    horizon: float = 0.65  # where wall meets floor (sweep, wall-floor), as a share of height
    vignette: float = 0.15
    grade: str = "#ffffff"  # a global tint that sits the product in the scene's light
    props: tuple[Prop, ...] = ()
    set: str = "none"  # one of SETS
    set_color: str = "#f4f1ec"  # the podium's, shelf's or counter's own colour


BACKDROP_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.(jpg|jpeg|png|webp)$")


@dataclass(frozen=True)
class Backdrop:
    """A seller's own photo as the scene's plate (imaging.backdrop): the file beside the
    scene's TOML, where the product stands and how large, where the light comes from."""

    image: str  # a file name in the scene's folder
    spot: tuple[float, float] | None = None  # the product's foot, shares of the frame (None: found)
    fill: float | None = None  # the product's height, share of the frame's (None: the placement's scale)
    light: float | None = None  # the key light's direction (None: read from the photo)
    depth_of_field: float = 0.0  # 0 sharp; up to 1: the plate behind the product softened
    depth: tuple[tuple[float, ...], ...] | None = None  # disparity grid a depth model read on adding (1 near)
    depth_model: str | None = None  # which model read it
    surface_cm: float | None = None  # the main surface's real width across the photo (real sizes)
    product_cm: float | None = None  # a shot's product height (set per shot from size_cm; not in the file)
    reference_box: tuple[float, float, float, float] | None = None  # an object in the photo (x0, y0, x1, y1 shares)
    reference_cm: float | None = None  # ... and its real height (real sizes, as surface_cm)

    @property
    def knows_size(self) -> bool:
        """Whether the photo carries a real size (a surface's width or an object's height)."""
        return bool(self.surface_cm or (self.reference_box and self.reference_cm))

    def path(self, scene_file: str) -> Path:
        return Path(scene_file).parent / self.image


@dataclass(frozen=True)
class Scene:
    id: str
    title: str
    category: str
    prompt: Prompt
    aspect: tuple[int, int] = (1, 1)
    size: int = 1024  # the longer side in pixels
    placement: Placement = field(default_factory=Placement)
    lighting: Lighting = field(default_factory=Lighting)
    shadow: Shadow = field(default_factory=Shadow)
    reflection: Reflection = field(default_factory=Reflection)
    classic: Classic = field(default_factory=Classic)
    thumbnail: str = ""
    source: str = ""
    backdrop: Backdrop | None = None

    def canvas_size(self, long_side: int | None = None) -> tuple[int, int]:
        side = long_side or self.size
        aw, ah = self.aspect
        if aw >= ah:
            return side, round(side * ah / aw)
        return round(side * aw / ah), side

    def summary(self) -> dict:
        w, h = self.canvas_size()
        return {"id": self.id, "title": self.title, "category": self.category, "canvas": f"{w}x{h}",
                "source": self.source, "backdrop": bool(self.backdrop)}


# -- validation ---------------------------------------------------------------

class _Reader:
    def __init__(self, data: dict, where: str, prefix: str = ""):
        self.data, self.where, self.prefix = data, where, prefix

    def fail(self, key: str, what: str, got: Any = None) -> SceneError:
        got_text = "" if got is None else f" (got {got!r})"
        return SceneError(f"{self.where}: {self.prefix}{key} {what}{got_text}")

    def str(self, key: str, default: str | None = None, choices: tuple[str, ...] | None = None) -> str:
        v = self.data.get(key, default)
        if v is None:
            raise self.fail(key, "is required")
        if not isinstance(v, str):
            raise self.fail(key, "must be text", v)
        if choices and v not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}", v)
        return v

    def num(self, key: str, default: float, lo: float, hi: float) -> float:
        v = self.data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise self.fail(key, f"must be a number from {lo:g} to {hi:g}", v)
        return float(v)

    def color(self, key: str, default: str) -> str:
        v = self.str(key, default)
        if not _HEX.match(v):
            raise self.fail(key, "must be a colour like #a1b2c3", v)
        return v

    def table(self, key: str) -> _Reader:
        v = self.data.get(key, {})
        if not isinstance(v, dict):
            raise self.fail(key, "must be a table", v)
        return _Reader(v, self.where, f"{self.prefix}{key}.")

    def unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            raise self.fail(extra[0], "is not a known field")


PROP_SHAPES = ("sphere", "block", "disc")


def _props(cl: _Reader) -> tuple[Prop, ...]:
    raw = cl.data.get("props", [])
    if not isinstance(raw, list) or len(raw) > 4 or not all(isinstance(x, dict) for x in raw):
        raise cl.fail("props", "must be up to 4 tables like {shape = \"sphere\", color = \"#d9d2c7\", size = 0.12}",
                      raw)
    out = []
    for i, item in enumerate(raw):
        p = _Reader(item, cl.where, f"{cl.prefix}props[{i}].")
        p.unknown({"shape", "color", "size"})
        out.append(Prop(p.str("shape", "sphere", PROP_SHAPES), p.color("color", "#d9d2c7"), p.num("size", 0.12, 0.02, 0.6)))
    return tuple(out)


def parse_scene(data: dict, where: str) -> Scene:
    r = _Reader(data, where)
    r.unknown({"id", "title", "category", "thumbnail", "prompt", "canvas", "placement", "lighting", "shadow",
               "reflection", "classic", "backdrop"})
    sid = r.str("id")
    if not re.match(r"^[a-z0-9][a-z0-9-]*$", sid):
        raise r.fail("id", "must be lowercase letters, digits and dashes", sid)
    p = r.table("prompt")
    p.unknown({"surface", "background", "props", "lighting", "camera", "mood", "negative", "preservation"})
    pres = p.data.get("preservation", [])
    if not isinstance(pres, list) or not all(isinstance(x, str) for x in pres):
        raise p.fail("preservation", "must be a list of sentences", pres)
    prompt = Prompt(p.str("surface"), p.str("background"), p.str("props", ""), p.str("lighting", ""),
                    p.str("camera", ""), p.str("mood", ""), p.str("negative", ""), tuple(pres))
    c = r.table("canvas")
    c.unknown({"aspect", "size"})
    aspect_text = c.str("aspect", "1:1")
    m = re.match(r"^(\d{1,3}):(\d{1,3})$", aspect_text)
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise c.fail("aspect", "must look like 4:5", aspect_text)
    if not 1 / MAX_ASPECT <= int(m.group(1)) / int(m.group(2)) <= MAX_ASPECT:
        raise c.fail("aspect", f"must be between 1:{MAX_ASPECT:g} and {MAX_ASPECT:g}:1", aspect_text)
    size = int(c.num("size", 1024, 256, 4096))
    pl = r.table("placement")
    pl.unknown({"anchor", "scale", "margin", "floor"})
    placement = Placement(pl.str("anchor", "bottom-center", ANCHORS), pl.num("scale", 0.6, 0.05, 1.0),
                          pl.num("margin", 0.08, 0.0, 0.4), pl.num("floor", 0.82, 0.3, 1.0))
    li = r.table("lighting")
    li.unknown({"direction", "softness", "temperature"})
    lighting = Lighting(li.num("direction", 135, 0, 360), li.num("softness", 0.6, 0, 1),
                        li.num("temperature", 5500, 1500, 12000))
    sh = r.table("shadow")
    sh.unknown({"contact", "cast", "length"})
    shadow = Shadow(sh.num("contact", 0.6, 0, 1), sh.num("cast", 0.3, 0, 1), sh.num("length", 0.35, 0, 2))
    rf = r.table("reflection")
    rf.unknown({"strength", "falloff"})
    reflection = Reflection(rf.num("strength", 0.0, 0, 1), rf.num("falloff", 0.25, 0.02, 1))
    cl = r.table("classic")
    cl.unknown({"backdrop", "colors", "texture", "texture_color", "texture_strength", "horizon", "vignette", "grade",
                "props", "set", "set_color"})
    colors = cl.data.get("colors", ["#f2f2f2", "#d9d9d9"])
    if not isinstance(colors, list) or not 1 <= len(colors) <= 4 or not all(
            isinstance(x, str) and _HEX.match(x) for x in colors):
        raise cl.fail("colors", "must be a list of 1 to 4 colours like #a1b2c3", colors)
    classic = Classic(cl.str("backdrop", "sweep", BACKDROPS), tuple(colors), cl.str("texture", "none", TEXTURES),
                      cl.color("texture_color", "#808080"), cl.num("texture_strength", 0.5, 0, 1),
                      cl.num("horizon", 0.65, 0.2, 0.95), cl.num("vignette", 0.15, 0, 1), cl.color("grade", "#ffffff"),
                      _props(cl), cl.str("set", "none", SETS), cl.color("set_color", "#f4f1ec"))
    return Scene(sid, r.str("title"), r.str("category", choices=CATEGORIES), prompt,
                 (int(m.group(1)), int(m.group(2))), size, placement, lighting, shadow, reflection, classic,
                 r.str("thumbnail", ""), where, _backdrop(r) if "backdrop" in r.data else None)


def _backdrop(r: _Reader) -> Backdrop:
    b = r.table("backdrop")
    b.unknown({"image", "spot", "fill", "light", "depth_of_field", "depth", "depth_model", "surface_cm",
               "reference_box", "reference_cm"})
    image = b.str("image")
    if not BACKDROP_FILE.match(image):
        raise b.fail("image", "must be a file name beside the scene (.jpg, .png or .webp), no folders", image)
    spot = b.data.get("spot")
    if spot is not None:
        if (not isinstance(spot, list) or len(spot) != 2 or
                not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in spot)):
            raise b.fail("spot", "must be [x, y], each a share of the frame from 0 to 1", spot)
        spot = (float(spot[0]), float(spot[1]))
    fill = b.num("fill", 0.5, 0.05, 0.95) if "fill" in b.data else None
    light = b.num("light", 0, 0, 360) if "light" in b.data else None
    surface_cm = b.num("surface_cm", 100.0, 1, 10000) if "surface_cm" in b.data else None
    box = b.data.get("reference_box")
    if box is not None and not valid_reference_box(box):
        raise b.fail("reference_box", "must be [x0, y0, x1, y1], shares of the photo from 0 to 1, x0 < x1, y0 < y1",
                     box)
    ref_cm = b.num("reference_cm", 10.0, 0.1, 10000) if "reference_cm" in b.data else None
    return Backdrop(image, spot, fill, light, b.num("depth_of_field", 0.0, 0, 1), _depth_grid(b),
                    b.str("depth_model", "") or None, surface_cm,
                    reference_box=tuple(float(v) for v in box) if box is not None else None, reference_cm=ref_cm)


def valid_reference_box(box) -> bool:
    """[x0, y0, x1, y1]: four shares of the photo from 0 to 1, a box with some size."""
    return (isinstance(box, list | tuple) and len(box) == 4
            and all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in box)
            and box[2] - box[0] > 0.005 and box[3] - box[1] > 0.005)


MAX_DEPTH_SIDE = 96  # a kept depth map is a coarse grid: surfaces and scale need no more


def _depth_grid(b: _Reader) -> tuple[tuple[float, ...], ...] | None:
    grid = b.data.get("depth")
    if grid is None:
        return None
    ok = (isinstance(grid, list) and 2 <= len(grid) <= MAX_DEPTH_SIDE and all(isinstance(r, list) for r in grid)
          and 2 <= len(grid[0]) <= MAX_DEPTH_SIDE and all(len(r) == len(grid[0]) for r in grid)
          and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for r in grid for v in r))
    if not ok:
        raise b.fail("depth", f"must be a grid of numbers (rows of equal length, at most {MAX_DEPTH_SIDE} a side)",
                     None)
    return tuple(tuple(float(v) for v in r) for r in grid)


# Parsed scene files by (path, modification time, size): every stage of a shoot asks
# for its scene, and parsing all of them each time costs more than the stage's work.
_PARSED: dict[tuple[str, int, int], Scene] = {}


MAX_SCENE_BYTES = 256 * 1024  # a scene is a few hundred bytes of TOML


def load_file(path: Path) -> Scene:
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
    except OSError as exc:
        raise SceneError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    # a device (a link to /dev/zero) or a pipe is never opened: it would never end
    if not stat.S_ISREG(st.st_mode):
        raise SceneError(f"{path}: not a regular file")
    if st.st_size > MAX_SCENE_BYTES:
        raise SceneError(f"{path}: {st.st_size} bytes is too large for a scene file (at most {MAX_SCENE_BYTES})")
    if key not in _PARSED:
        _PARSED[key] = _load_file(path)
    return _PARSED[key]


def _load_file(path: Path) -> Scene:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SceneError(f"{path}: not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise SceneError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:
        raise SceneError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    scene = parse_scene(data, str(path))
    if scene.id != path.stem:
        raise SceneError(f"{path}: id {scene.id!r} must match the file name {path.stem!r}")
    return scene


def user_dir() -> Path:
    from studio.config import data_dir

    return data_dir() / "scenes"


def load_scenes(dirs: list[Path] | None = None, errors: list[str] | None = None,
                skip: Collection[str] = ()) -> dict[str, Scene]:
    """All scenes by id; later folders override earlier ones (the user's override ours).
    A bad user file is reported in `errors` (if given) and skipped, so one typo never
    hides every scene; without `errors` it raises. Scenes in `skip` are not even read (a
    file is named by its scene's id)."""
    dirs = dirs if dirs is not None else [SHIPPED_DIR, user_dir()]
    scenes: dict[str, Scene] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.toml")):
            if path.stem in skip:
                continue
            try:
                scene = load_file(path)
            except SceneError as exc:
                if errors is None:
                    raise
                errors.append(str(exc))
                continue
            scenes[scene.id] = scene
    return scenes


def get_scene(scene_id: str) -> Scene:
    errors: list[str] = []
    scenes = load_scenes(errors=errors)
    if scene_id not in scenes:
        # a file of that name that did not load says why better than "no scene"
        broken = [e for e in errors if Path(e.split(": ", 1)[0]).stem == scene_id]
        raise SceneError(broken[0] if broken else f"no scene {scene_id!r}; `studio scenes` lists them")
    return scenes[scene_id]
