"""A seller's own backdrop photo as a scene: saved in the data dir's `scenes/` (its TOML
and its image), reusable, listed with the shipped scenes; and the reference photo a
shoot may be styled after. The page, the CLI, the job API and batches call these.

Every photo goes through the same ingest as a product photo (size and pixel limits,
formats, EXIF orientation, colour profile) and is saved re-encoded from its decoded
pixels, never as the bytes that came in.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from studio.bytecache import ByteBoundedCache
from studio.config import load_settings
from studio.imaging.io import IngestError, header_size, ingest_bytes, read_limited
from studio.pipeline.shot_inputs import decode  # one decoder for the stages and the shells
from studio.scenes import MAX_ASPECT, SHIPPED_DIR, Scene, SceneError, get_scene, load_file, user_dir

KEEP_SIDE = 2560  # a backdrop is kept at most this large: the largest canvas is 2048 px
# what every shipped scene tells a model: a backdrop scene tells it the same
PRESERVATION = ("keep the product exactly as photographed: same shape, proportions, colours, label, text and logo",
                "do not add, remove or redraw any part of the product",
                "one single product, fully visible, not cropped")
NEGATIVE = ("text, watermark, logo overlay, extra products, duplicate product, distorted product, deformed label, "
            "blurry product, cropped product, hands, people")
if TYPE_CHECKING:
    from studio.store import Store

SCENE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class BackdropError(ValueError):
    """A backdrop or reference photo Studio cannot take, with the reason for people."""


def read_photo(photo: Path | bytes, name: str = "backdrop", side: int = KEEP_SIDE) -> Image.Image:
    """An upload (a path or its bytes) decoded safely, at most about `side` px long (never
    decoded whole when it is much larger): an upright sRGB RGB image. Refused from its
    header when it is too long and narrow to be kept (Studio's own re-encode of it, at
    most `side` px long, would be a sliver)."""
    limits = load_settings().limits
    try:
        data = read_limited(photo, limits.max_upload_bytes) if isinstance(photo, Path) else photo
        w, h = header_size(data, name)
        if max(w, h) > MAX_ASPECT * min(w, h):
            raise BackdropError(f"{name}: {w}×{h} is too long and narrow for a backdrop or reference photo "
                                f"(at most {MAX_ASPECT:g}:1 either way, as a scene's frame); crop it first")
        image = ingest_bytes(data, name, limits, shrink_to=side, one_at_a_time=True).image
        return image.convert("RGB") if image.mode != "RGB" else image
    except IngestError as exc:
        raise BackdropError(str(exc)) from exc
    except OSError as exc:
        raise BackdropError(f"{name}: cannot be read ({exc.strerror or exc})") from exc


def encoded(image: Image.Image, side: int = KEEP_SIDE) -> bytes:
    """The image at most `side` px on its long side, as a JPEG (quality 92, no metadata)."""
    if max(image.size) > side:
        f = side / max(image.size)
        image = image.resize((max(1, round(image.width * f)), max(1, round(image.height * f))),
                             Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _aspect(w: int, h: int) -> str:
    r = Fraction(w, h).limit_denominator(20)
    r = min(max(r, Fraction(1, int(MAX_ASPECT))), Fraction(int(MAX_ASPECT), 1))
    return f"{r.numerator}:{r.denominator}"


def _words(image: Image.Image) -> tuple[str, str]:
    """(surface, background) for the prompt, from the colours of the photo's lower and
    upper halves: what models that take no reference image read instead."""
    from studio.imaging.color_names import dominant_colors

    rgb = np.asarray(image.resize((128, max(1, round(128 * image.height / image.width)))))
    h = rgb.shape[0]
    names = []
    for part in (rgb[h // 2:], rgb[: h // 2]):
        colours = dominant_colors(part, np.ones(part.shape[:2], np.float32), k=2)
        names.append(" and ".join(c["name"] for c in colours) or "neutral")
    return (f"{names[0]} surface, as in the seller's own backdrop photo",
            f"{names[1]} background, as in the seller's own backdrop photo")


def _toml_value(value) -> str:
    """A value as TOML writes it: what a scene file holds (text, numbers, booleans, lists,
    and tables inline, such as a scene's props)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _write_scene(path: Path, tables: dict[str, dict]) -> None:
    lines = []
    for table, values in tables.items():
        if table:
            lines.append(f"\n[{table}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    tmp = path.with_suffix(".toml.part")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


class SceneExists(BackdropError):
    """The seller already has a scene of that name: it is replaced only when asked."""


def add_backdrop_scene(scene_id: str, photo: Path | bytes, *, title: str | None = None,
                       spot: tuple[float, float] | None = None, light: float | None = None,
                       fill: float | None = None, depth_of_field: float = 0.0, name: str = "backdrop",
                       surface_cm: float | None = None, replace: bool = False,
                       reference_box: tuple[float, float, float, float] | None = None,
                       reference_cm: float | None = None) -> Scene:
    """Save `photo` as the seller's scene `scene_id` (its image beside it) and return it.
    `spot`: where the product's foot goes (shares of the frame; None: found on the
    surface); `light`: the key light's direction (None: read from the photo); `fill`:
    the product's height as a share of the frame's on the main surface; `surface_cm`:
    that surface's real width across the photo (a shot's `size_cm` then sets its real
    size; or `reference_box`, an object in the photo as shares of it, and its real
    height `reference_cm`). Its depth is read here, once, where a depth model is installed, and kept in
    the scene (imaging.backdrop reads surfaces and scale from it). A scene of the
    seller's with that name (saved by Studio or written by hand) is replaced only with
    `replace` (SceneExists otherwise): its photo and clicked spot would go with it."""
    if not SCENE_ID.match(scene_id or ""):
        raise BackdropError(f"{scene_id!r} is not a scene name: use lowercase letters, digits and dashes")
    if (SHIPPED_DIR / f"{scene_id}.toml").exists():
        raise BackdropError(f"{scene_id!r} is one of Studio's scenes: give your backdrop another name")
    if not replace and (user_dir() / f"{scene_id}.toml").exists():  # a scene's file is named by its id
        raise SceneExists(f"you already have a scene called {scene_id!r}: replacing it would lose its photo and "
                          "spot; give another name, or replace it on purpose")
    _check_choices(spot, light, fill, depth_of_field, surface_cm)
    _check_reference(reference_box, reference_cm)
    image = read_photo(photo, name)
    from studio.models.depth_anything import depth_grid

    depth = depth_grid(image)
    folder = user_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{scene_id}.jpg").write_bytes(encoded(image))
    surface, background = _words(image)
    w, h = image.size
    size = max(256, min(2048, max(1024, max(w, h))))
    _write_scene(folder / f"{scene_id}.toml", {
        "": {"id": scene_id, "title": title or scene_id.replace("-", " ").capitalize(), "category": "lifestyle"},
        "prompt": {"surface": surface, "background": background, "lighting": "the light of the backdrop photo",
                   "camera": "eye level, as the backdrop photo", "negative": NEGATIVE,
                   "preservation": list(PRESERVATION)},
        "canvas": {"aspect": _aspect(w, h), "size": size},
        "backdrop": {"image": f"{scene_id}.jpg", "spot": list(spot) if spot else None, "fill": fill, "light": light,
                     "depth_of_field": float(depth_of_field), "surface_cm": surface_cm,
                     "reference_box": list(reference_box) if reference_box else None, "reference_cm": reference_cm,
                     "depth_model": depth[1] if depth else None, "depth": depth[0] if depth else None},
    })
    return load_file(folder / f"{scene_id}.toml")


def _check_choices(spot, light, fill, depth_of_field, surface_cm=None) -> None:
    if spot is not None and (len(spot) != 2 or not all(0 <= float(v) <= 1 for v in spot)):
        raise BackdropError("the spot is two shares of the frame from 0 to 1 (x, y)")
    if light is not None and not 0 <= float(light) <= 360:
        raise BackdropError("the light's direction is in degrees from 0 to 360 (0 from the right, 180 from the left)")
    if fill is not None and not 0.05 <= float(fill) <= 0.95:
        raise BackdropError("fill (the product's share of the frame's height) is from 0.05 to 0.95")
    if not 0 <= float(depth_of_field) <= 1:
        raise BackdropError("depth of field is from 0 (sharp) to 1")
    if surface_cm is not None and not 1 <= float(surface_cm) <= 10000:
        raise BackdropError("the surface's width is in centimetres, from 1 to 10000")


def _check_reference(box, cm) -> None:
    from studio.scenes import valid_reference_box

    if (box is None) != (cm is None):
        raise BackdropError("a reference object needs both its box in the photo and its real height in centimetres")
    if box is not None and not valid_reference_box(box):
        raise BackdropError("the reference box is x0,y0,x1,y1 as shares of the photo from 0 to 1 (x0 < x1, y0 < y1)")
    if cm is not None and not 0.1 <= float(cm) <= 10000:
        raise BackdropError("the reference object's height is in centimetres, from 0.1 to 10000")


@dataclass(frozen=True)
class KeptBackdrop:
    """A backdrop photo decoded, checked and re-encoded as its scene keeps it, before any
    file is written (a request refused later leaves nothing behind)."""

    scene_id: str
    jpeg: bytes
    name: str


def backdrop_for_photo(photo: Path | bytes, name: str = "backdrop") -> KeptBackdrop:
    """The scene a backdrop photo becomes: one per photo, named by its kept pixels' digest."""
    image = read_photo(photo, name)
    digest = hashlib.sha256(image.tobytes()).hexdigest()[:10]
    return KeptBackdrop(f"backdrop-{digest}", encoded(image), name)


def save_backdrop(kept: KeptBackdrop, **choices) -> tuple[Scene, bool]:
    """(its scene, whether it was made now): made the first time (or again when damaged)."""
    path = user_dir() / f"{kept.scene_id}.toml"
    if path.exists() and not choices:
        try:
            scene = load_file(path)
        except SceneError:
            pass  # damaged: made again below
        else:  # a scene kept before the depth model was installed gets its depth now
            return (refresh_depth(scene.id) if scene.backdrop is not None and not scene.backdrop.depth
                    else scene), False
    # the same photo (same pixels, same name): new choices, or a damaged file, replace it
    scene = add_backdrop_scene(kept.scene_id, kept.jpeg, title=f"Backdrop {Path(kept.name).stem[:40]}",
                               name=kept.name, replace=True, **choices)
    return scene, True


def scene_for_photo(photo: Path | bytes, name: str = "backdrop", **choices) -> Scene:
    """The seller's scene for a backdrop photo given with a shoot (`--backdrop`, the page):
    one per photo (named by its pixels' digest), made the first time."""
    return save_backdrop(backdrop_for_photo(photo, name), **choices)[0]


def remove_scene_files(scene: Scene) -> None:
    """A backdrop scene's TOML and photo, gone (one made for a request that was refused,
    or one forgotten)."""
    files = [Path(scene.source)] + ([scene.backdrop.path(scene.source)] if scene.backdrop else [])
    for f in files:
        if f.parent.resolve() == user_dir().resolve():  # never outside the seller's scenes folder
            f.unlink(missing_ok=True)


# -- backdrop scenes made from job-API uploads: owned by their keys -------------------

def keep_for_key(store: Store, kept: KeptBackdrop, key_id: str) -> tuple[Scene, bool]:
    """The backdrop's scene, owned by `key_id` as well, in the caller's transaction (the
    owner row is undone with it; the caller removes the files of a scene made now when
    its request is refused). A seller's own scene of that photo stays the seller's."""
    from studio.pipeline import scene_owners

    path = user_dir() / f"{kept.scene_id}.toml"
    sellers = path.exists() and not scene_owners.owners(store, kept.scene_id)
    scene, made = save_backdrop(kept)
    if made or not sellers:
        with store.tx() as conn:
            scene_owners.add_owner(conn, kept.scene_id, key_id)
    return scene, made


def may_use_scene(store: Store, scene_id: str, key_id: str) -> bool:
    """Shipped scenes, the seller's own, and the backdrop scenes made from this key's uploads."""
    from studio.pipeline import scene_owners

    owned = scene_owners.owners(store, scene_id)
    return not owned or key_id in owned


def page_scenes(store: Store, errors: list[str] | None = None) -> dict[str, Scene]:
    """The scenes the page offers: Studio's and the seller's own. The backdrop scenes
    made from job-API uploads are the shops' (not even read: a server that took many
    keeps its gallery as quick as one that took none)."""
    from studio.pipeline import scene_owners
    from studio.scenes import load_scenes

    return load_scenes(errors=errors, skip=scene_owners.all_owned(store).keys())


def seller_keeps(store: Store, scene_id: str) -> None:
    """A backdrop the seller gives (the page, the CLI) is the seller's own scene, even
    when a shop's key sent the same photo first."""
    from studio.pipeline import scene_owners

    scene_owners.drop(store, scene_id)


def scenes_for_key(store: Store, key_id: str) -> list[Scene]:
    """The scenes `key_id` may shoot on (as `may_use_scene`)."""
    from studio.pipeline import scene_owners
    from studio.scenes import load_scenes

    # other keys' backdrop scenes are not even read (as `page_scenes` skips them all)
    others = {scene_id for scene_id, keys in scene_owners.all_owned(store).items() if key_id not in keys}
    return list(load_scenes(errors=[], skip=others).values())


RETENTION_DAYS = 30


def forget_unused(store: Store, days: float = RETENTION_DAYS, dry_run: bool = False) -> list[str]:
    """Remove the backdrop scenes made from API uploads that no job has used for `days`
    days (nor been made in them) and that no job in progress uses; returns their ids.
    The seller's own scenes (no owner key) are never touched; a job keeps its own copy
    of its backdrop photo, so finished jobs' files and history stay whole."""
    import time

    from studio.pipeline import scene_owners
    from studio.scenes import load_scenes

    cutoff = time.time() - days * 86400
    made = scene_owners.owned_since(store)
    last, live = scene_owners.scene_use(store)
    scenes = load_scenes(dirs=[user_dir()], errors=[])
    gone = []
    for scene_id, at in sorted(made.items()):
        if scene_id in live or max(at, last.get(scene_id, 0.0)) > cutoff:
            continue
        gone.append(scene_id)
        if dry_run:
            continue
        if scene_id in scenes:
            remove_scene_files(scenes[scene_id])
        scene_owners.drop(store, scene_id)
    return gone


def update_backdrop(scene_id: str, *, spot: tuple[float, float] | None = None, light: float | None = None,
                    fill: float | None = None, depth_of_field: float | None = None) -> Scene:
    """Keep the seller's choices (a clicked spot, a light direction) in their scene."""
    scene = get_scene(scene_id)
    if scene.backdrop is None or Path(scene.source).parent != user_dir():
        raise BackdropError(f"{scene_id!r} is not one of your backdrop scenes")
    bd = scene.backdrop
    spot = spot if spot is not None else bd.spot
    light = light if light is not None else bd.light
    fill = fill if fill is not None else bd.fill
    dof = depth_of_field if depth_of_field is not None else bd.depth_of_field
    _check_choices(spot, light, fill, dof)
    path = Path(scene.source)
    import tomllib

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["backdrop"] = {**data["backdrop"], "image": bd.image, "spot": list(spot) if spot else None, "fill": fill,
                        "light": light, "depth_of_field": float(dof)}  # its depth map and surface width stay
    tables = {"": {k: v for k, v in data.items() if not isinstance(v, dict)}}
    tables |= {k: v for k, v in data.items() if isinstance(v, dict)}
    _write_scene(path, tables)
    return load_file(path)


class NoDepthModel(BackdropError):
    """A depth refresh was asked for where no depth model is installed."""


def refresh_depth(scene_id: str, *, required: bool = False) -> Scene:
    """The seller's backdrop scene with its depth read again from its photo (a scene kept
    before Depth Anything was installed, or one whose file was edited), everything else
    kept. Without the model the scene stays as it is (NoDepthModel with `required`)."""
    from studio.models.depth_anything import depth_grid

    scene = get_scene(scene_id)
    if scene.backdrop is None or Path(scene.source).parent.resolve() != user_dir().resolve():
        raise BackdropError(f"{scene_id!r} is not one of your backdrop scenes")
    image = read_photo(backdrop_bytes(scene), scene.backdrop.image)  # only its own photo, beside it, checked
    depth = depth_grid(image)
    if depth is None:
        if required:
            raise NoDepthModel("no depth model is installed (studio models download depth-anything-v2-small): "
                               f"{scene_id!r} keeps the classical surface finder's reading")
        return scene
    path = Path(scene.source)
    import tomllib

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["backdrop"] = {**data["backdrop"], "depth_model": depth[1], "depth": depth[0]}
    tables = {"": {k: v for k, v in data.items() if not isinstance(v, dict)}}
    tables |= {k: v for k, v in data.items() if isinstance(v, dict)}
    _write_scene(path, tables)
    return load_file(path)


def backdrop_bytes(scene: Scene) -> bytes | None:
    """The scene's backdrop image as a job keeps it (None: the scene has none): the file
    beside its TOML, checked as an upload is (its stage decodes it the same way)."""
    if scene.backdrop is None:
        return None
    path = scene.backdrop.path(scene.source)
    folder = Path(scene.source).parent.resolve()
    if path.resolve().parent != folder or not path.is_file():
        raise BackdropError(f"scene {scene.id!r}: its backdrop image {scene.backdrop.image!r} is missing")
    limits = load_settings().limits
    try:
        data = read_limited(path, limits.max_upload_bytes)
        ingest_bytes(data, scene.backdrop.image, limits, check_only=True)
    except IngestError as exc:
        raise BackdropError(f"scene {scene.id!r}: {exc}") from exc
    return data


def reference_bytes(photo: Path | bytes, name: str = "reference") -> bytes:
    """A reference photo as a job keeps it: decoded safely, re-encoded (at most 1024 px:
    a model reads its look, not its detail)."""
    return encoded(read_photo(photo, name, 1024), 1024)




PREVIEW_SIDE = 768


def keep_clicked_spot(scene_id: str, x: float, y: float) -> tuple[float, float]:
    """A click at (x, y) px on the scene's `preview`: the product's foot goes there,
    snapped onto the nearest top surface found (the preview shows them), and the scene
    keeps it. Returns the spot as shares of the frame."""
    from studio.imaging import backdrop as bdrop

    scene = get_scene(scene_id)
    W, H = scene.canvas_size(PREVIEW_SIDE)  # the preview's size, without rendering it
    spot = (min(max(x / W, 0), 1), min(max(y / H, 0), 1))
    if scene.backdrop is not None:
        photo = np.asarray(decode(backdrop_bytes(scene), scene.backdrop.image))
        spot = bdrop.snap(bdrop.geometry_of(scene, bdrop.plate(photo, (W, H))), *spot)
    spot = (round(spot[0], 3), round(spot[1], 3))
    update_backdrop(scene_id, spot=spot)
    return spot


def preview(scene_id: str, cutout: Image.Image | None = None, light_match: float = 0.0) -> Image.Image:
    """The backdrop scene as a shot would look (a quick, smaller render): the product on
    its spot with its shadow when a cut-out is given, else the spot marked; either way
    with the surfaces found drawn round it (imaging.backdrop.overlay), so the seller
    sees where the product will stand and where a click may put it."""
    from studio.imaging import backdrop as bdrop
    from studio.models.generate_classic import compose_on_backdrop

    scene = get_scene(scene_id)
    if scene.backdrop is None:
        raise BackdropError(f"{scene_id!r} has no backdrop photo")
    photo = np.asarray(decode(backdrop_bytes(scene), scene.backdrop.image))
    if cutout is not None and cutout.getbbox() is not None:
        from studio.imaging.compose import crop_to_alpha, resize_product

        c = compose_on_backdrop(scene, cutout, 0, photo, PREVIEW_SIDE, light_match)
        shot = np.asarray(c.image)
        W, H = c.image.size
        drawn = bdrop.overlay(shot, bdrop.geometry_of(scene, bdrop.plate(photo, (W, H))))
        # the product stays in front of the drawing
        alpha = np.zeros((H, W), bool)
        b = c.box
        y0, y1, x0, x1 = max(b.y, 0), min(b.y + b.h, H), max(b.x, 0), min(b.x + b.w, W)
        matte = resize_product(crop_to_alpha(cutout), b)[..., 3]
        alpha[y0:y1, x0:x1] = matte[y0 - b.y:y1 - b.y, x0 - b.x:x1 - b.x] > 0.5
        drawn[alpha] = shot[alpha]
        return Image.fromarray(drawn)
    W, H = scene.canvas_size(PREVIEW_SIDE)
    plate = bdrop.plate(photo, (W, H)).copy()
    geo = bdrop.geometry_of(scene, plate)
    x, y = scene.backdrop.spot or bdrop.default_spot(geo)
    return Image.fromarray(bdrop.overlay(plate, geo, (x, y)))


# by the files' identity: a catalog on a few backdrops sends one of them with every SKU
_PACKAGES = ByteBoundedCache(64 * 1024**2)


def scene_package(scene_id: str) -> dict | None:
    """A backdrop scene as a cluster worker needs it (its TOML and its photo), or None
    for a scene without a backdrop (every node has the shipped ones). Read once while its
    files stay as they are."""
    scene = get_scene(scene_id)
    if scene.backdrop is None:
        return None
    files = (Path(scene.source), scene.backdrop.path(scene.source))
    key = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.exists())
    package = _PACKAGES.get(key)
    if package is None:
        package = {"id": scene.id, "toml": files[0].read_bytes(), "image_name": scene.backdrop.image,
                   "image": backdrop_bytes(scene)}
        _PACKAGES.put(key, package, len(package["toml"]) + len(package["image"]))
    return package


def install_package(package: dict) -> None:
    """Put a head's backdrop scene into this node's scenes, unless it is there already; a
    different scene of that name here is never replaced (BackdropError)."""
    from studio.scenes import BACKDROP_FILE

    scene_id, image_name = str(package.get("id", "")), str(package.get("image_name", ""))
    if not SCENE_ID.match(scene_id) or not BACKDROP_FILE.match(image_name):
        raise BackdropError("a backdrop scene from the head with an unusable name")
    folder = user_dir()
    toml = folder / f"{scene_id}.toml"
    if toml.exists():
        if toml.read_bytes() == package["toml"] and (folder / image_name).is_file():
            return
        raise BackdropError(f"this node has a scene {scene_id!r} of its own: rename one of them")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / image_name).write_bytes(package["image"])
    tmp = folder / f".{scene_id}.toml.part"
    tmp.write_bytes(package["toml"])
    tmp.replace(toml)
    load_file(toml)  # it parses here too
