"""The classic compositor: a product photo with no model weights.

Procedural backdrop (flat, gradient, paper sweep, wall and floor) with noise-made
surfaces (marble, wood, concrete, linen, sand, paper), light falloff from the key
light and a vignette; the scene's props; the product placed by the template; a soft
contact shadow, a cast shadow thrown away from the light, an optional floor
reflection; light wrap at the product's edges and a global grade so it sits in the
scene's light. Variants differ the way a photographer's frames do (classic_look):
light direction and softness, camera height, product scale and position, backdrop
tint, prop placement. A product photographed from above (imaging.view) is laid flat:
camera overhead, no horizon, its shadow under and round it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from PIL import Image

from studio.bytecache import ByteBoundedCache
from studio.imaging import light, masks
from studio.imaging.compose import ARTIFACT, Box, crop_to_alpha, hex_rgb, over, place, resize_product, window
from studio.imaging.light import soft_blur
from studio.imaging.preserve import blend_rim, paste_inside
from studio.imaging.view import SIDE, TOP, product_view
from studio.models import classic_grain, classic_plate
from studio.models.base import Generated, GenerateRequest, Generator
from studio.models.classic_look import look
from studio.models.classic_props import draw_podium, draw_props, flat_shadow
from studio.scenes import Scene


@dataclass
class Composition:
    image: Image.Image  # RGB, the scene with the product in it
    box: Box  # where the product was placed
    seed: int
    light_direction: float
    view: str = SIDE  # how the product was photographed: side (stood on the floor) or top (laid flat)
    look: dict = field(default_factory=dict)  # what this variant's frame changed (classic_look)
    made: dict = field(default_factory=dict)  # how its frame was made: frame, plate, upscaler, product scale


def _shadows(scene: Scene, product_alpha: np.ndarray, box: Box, shape: tuple[int, int],
             light_dir: float) -> np.ndarray:
    """Darkness (0..1) to multiply out of the backdrop: the scene's contact and cast
    shadow (imaging.light, shared with backdrop photos and generated plates)."""
    sh = scene.shadow
    return light.shadows(product_alpha, box, shape, light_dir, sh.contact, sh.cast, sh.length,
                         scene.lighting.softness)


def _reflect(scene: Scene, bg: np.ndarray, product: np.ndarray, box: Box) -> None:
    """A mirrored, fading copy of the product under its foot, laid over `bg` in place."""
    H, W = bg.shape[:2]
    base_y = box.y + box.h
    n = min(box.h, H - base_y)
    if n <= 0:
        return
    fall = np.clip(1 - np.arange(n, dtype=np.float32) / max(1.0, box.h * scene.reflection.falloff), 0, 1)
    pad = 5  # the reflection's alpha is blurred (sigma 1.5): room for its soft edge
    win = window(Box(box.x, base_y, box.w, n), pad, (H, W))
    oy, ox = base_y - win[0].start, box.x - win[1].start
    ra = np.zeros((win[0].stop - win[0].start, win[1].stop - win[1].start), np.float32)
    rf = np.zeros(ra.shape + (3,), np.float32)
    flipped = product[::-1][:n]
    cols = slice(ox, ox + box.w)
    ra[oy: oy + n, cols] = flipped[..., 3] * (fall * scene.reflection.strength)[:, None]
    rf[oy: oy + n, cols] = flipped[..., :3]
    ra = cv2.GaussianBlur(ra, (0, 0), 1.5)
    bg[win] = over(bg[win], rf, ra)


def _place_product(out8: np.ndarray, placed: np.ndarray, box: Box, grade: np.ndarray) -> None:
    """The product into the graded frame, in place: its own pixels inside its outline
    (eroded 2 px), and on the rim round that a blend that sits it in the scene: the
    backdrop's light bleeding round its edge (light wrap) and the grade, half kept, as
    the preserve step keeps a model's edge light. Only the rim (a few percent of the
    product's box) is blended; the inside is copied."""
    H, W = out8.shape[:2]
    y0, y1, x0, x1 = max(box.y, 0), min(box.y + box.h, H), max(box.x, 0), min(box.x + box.w, W)
    layer = placed[y0 - box.y: y1 - box.y, x0 - box.x: x1 - box.x]
    alpha = np.ascontiguousarray(layer[..., 3])
    fg = cv2.cvtColor(np.ascontiguousarray(layer), cv2.COLOR_RGBA2RGB)
    frame = np.array(out8[y0:y1, x0:x1], order="C")  # a copy OpenCV can write into
    ys, xs, band = paste_inside(frame, fg, alpha)
    out8[y0:y1, x0:x1] = frame
    if not len(ys):
        return
    scene = frame[ys, xs].astype(np.float32) / 255.0  # the graded backdrop under the rim (not pasted over)
    # light wrap: the backdrop blurred over the product's edge (wide, so worked out at an
    # eighth of the size round the box and read back at the rim's pixels)
    wrap_sigma, edge_sigma = max(2.0, box.h * 0.02), max(1.0, box.h * 0.006)
    m = int(3 * wrap_sigma) + 2
    wy0, wy1, wx0, wx1 = max(0, y0 - m), min(H, y1 + m), max(0, x0 - m), min(W, x1 + m)
    f = int(max(1, min(8, wrap_sigma // 2)))
    small = cv2.resize(out8[wy0:wy1, wx0:wx1], (max(1, (wx1 - wx0) // f), max(1, (wy1 - wy0) // f)),
                       interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    small = cv2.GaussianBlur(small, (0, 0), wrap_sigma / f)
    # (the nearest cell: the blur is several cells wide, so neighbouring cells differ little)
    sx = np.minimum((xs + x0 - wx0) * small.shape[1] // (wx1 - wx0), small.shape[1] - 1)
    sy = np.minimum((ys + y0 - wy0) * small.shape[0] // (wy1 - wy0), small.shape[0] - 1)
    wrap = small[sy, sx]
    a = alpha[ys, xs, None]
    edge = np.clip(soft_blur(1 - alpha, edge_sigma)[ys, xs, None], 0, 1) * a
    lit = (fg[ys, xs] * grade) * a + scene * (1 - a)  # the product graded over the backdrop
    lit += (wrap - lit) * (0.35 * edge)
    # as the preserve step: the product over that, half of the scene's edge light kept
    out8[ys + y0, xs + x0] = blend_rim(fg[ys, xs], a, lit, band)


_VIEWS = ByteBoundedCache(4096)  # a shoot's variants share one stored cut-out: judge its view once


def _view_of(product: Image.Image) -> str:
    key = product.info.get(ARTIFACT)
    known = _VIEWS.get(key) if key else None
    if known is None:
        known = product_view(np.asarray(product)).kind
        if key:
            _VIEWS.put(key, known, 1)
    return known


def flat_lay(scene: Scene) -> Scene:
    """The scene seen from above, for a product photographed from above: no wall and no
    horizon, only the surface (the floor's colour and texture, without perspective),
    the product in the middle of the frame, no reflection."""
    c = scene.classic
    return replace(scene, placement=replace(scene.placement, anchor="center"),
                   classic=replace(c, backdrop="flat", colors=(c.colors[-1],)),
                   reflection=replace(scene.reflection, strength=0.0))


def frame_record(frame: tuple[int, int], plate: str, product: Image.Image, box: Box,
                 upscaler: str | None = None, factor: float | None = None) -> dict:
    """How a variant's frame was made, as every variant records it (`made`)."""
    out = {"frame": f"{frame[0]}×{frame[1]}", "plate": plate,
           "product_scale": round(max(box.w / product.width, box.h / product.height), 3)}
    if upscaler:
        out |= {"upscaler": upscaler, "upscale_factor": round(factor, 2)}
    return out


def compose(scene: Scene, cutout: Image.Image, seed: int, long_side: int | None = None,
            view: str | None = None, backdrop: np.ndarray | None = None, light_match: float = 0.0,
            upscale: str = "auto") -> Composition:
    """One variant: the scene built around the cut-out (RGBA, decontaminated), as the
    variant's seed frames it (classic_look). `view` (side or top) as detected from the
    cut-out when not given: a product photographed from above is laid flat. With a
    `backdrop` photo (a scene with `[backdrop]`), that photo is the plate. `light_match`
    (0..1) adapts the product's shading to the plate (imaging.light; 0: its own pixels).
    The canvas is the frame the shot is delivered in (`imaging.layout.frame_scene`): the
    plate is rendered at its size and the product resampled once, straight to its box."""
    # a marketplace's exact fill (Amazon main) is on pure white: the backdrop photo would not show
    if backdrop is not None and not scene.placement.exact:
        return compose_on_backdrop(scene, cutout, seed, backdrop, long_side, light_match, upscale)
    rng = np.random.default_rng(seed)
    W, H = scene.canvas_size(long_side)
    product = crop_to_alpha(cutout)
    view = view or _view_of(product)
    top_down = view == TOP
    frame = look(flat_lay(scene) if top_down else scene, seed, top_down)
    scene = frame.scene
    key_light = scene.lighting.direction
    box = place(product.size, (W, H), scene.placement, frame.jitter)
    box, stage, drums = classic_plate.arrange(scene, box, W, H, top_down)  # a podium raises the product
    placed = resize_product(product, box)  # box.h × box.w × RGBA

    img = classic_plate.render(scene, W, H, rng, key_light, stage)
    draw_podium(img, drums, scene.classic.set_color, key_light, scene.lighting.softness)
    draw_props(img, frame, box, top_down, stage.ground, tuple(d.bounds() for d in drums))
    if top_down:
        shade, dark = flat_shadow(placed[..., 3], box, (H, W), frame)
        img[dark] *= (1 - shade)[..., None]
    else:
        shade = _shadows(scene, placed[..., 3], box, (H, W), key_light)
        dark = masks.region(shade > 0, 0)  # shadows lie round the product's foot: darken only there
        if dark is not None:
            img[dark] *= (1 - shade[dark])[..., None]
    if scene.reflection.strength > 0 and not drums:
        _reflect(scene, img, placed, box)
    # global grade: the scene's light colour over everything; with the product photo's
    # own grain (one sensor for both), rounded to 8 bits through it
    grade = hex_rgb(scene.classic.grade)
    out8 = classic_grain.finish(img, placed, grade, seed, scene.category == "marketplace")
    if light_match > 0:
        placed = light.shaded(placed, out8, box, light_match, key_light)
    _place_product(out8, placed, box, grade)
    return Composition(Image.fromarray(out8, "RGB"), box, seed, round(key_light, 2), view, frame.describe(),
                       frame_record((W, H), "rendered at frame size", product, box))


# a shoot's variants stand on one plate (the window and the spot do not change between
# them): cropped and enlarged once
_PLATES = ByteBoundedCache(96 * 1024**2)


def backdrop_plate(photo: np.ndarray, window, size: tuple[int, int], upscale: str = "auto"
                   ) -> tuple[np.ndarray, str | None, float]:
    """The frame's window of the photo at the frame's size: averaged down when the photo
    has more pixels than the frame, else enlarged by the upscaler (the plate only; the
    product is placed afterwards from its own photo). (plate, upscaler or None, factor)."""
    from studio.models.registry import pick_upscaler

    key = (photo.shape, hash(photo[:: max(1, photo.shape[0] // 61), :: max(1, photo.shape[1] // 67)].tobytes()),
           window.x, window.y, window.w, window.h, size, upscale)
    hit = _PLATES.get(key)
    if hit is not None:
        return hit
    crop = np.ascontiguousarray(photo[window.y: window.y + window.h, window.x: window.x + window.w])
    factor = max(size[0] / window.w, size[1] / window.h)
    upscaler = pick_upscaler(upscale, factor, photo=True) if factor > 1.01 else None
    if upscaler is None:
        plate = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
    else:
        plate = np.asarray(upscaler.upscale(Image.fromarray(crop), size))
    plate.flags.writeable = False
    out = (plate, upscaler.name if upscaler else None, factor)
    _PLATES.put(key, out, plate.nbytes)
    return out


def compose_on_backdrop(scene: Scene, cutout: Image.Image, seed: int, photo: np.ndarray,
                        long_side: int | None = None, light_match: float = 0.0, upscale: str = "auto"
                        ) -> Composition:
    """One variant on the seller's backdrop photo: the part of the photo the frame shows
    (`layout.backdrop_window`: the frame's aspect, the product's foot on the scene's spot
    or the one found on the surface, the product wholly inside) at the frame's size; the
    product at its fill of the frame's height; contact and cast shadow along the light
    read from the plate (or the scene's); the plate behind softened if asked; light wrap
    at the rim. Outside the product and its shadow the frame is the photo's own pixels.
    Variants differ in the light's softness, the shadow's length and a touch of scale;
    the spot stays, so a catalog on one backdrop lines up."""
    from studio.imaging import backdrop as bdrop
    from studio.imaging.layout import backdrop_window, window_size

    bd = scene.backdrop
    W, H = scene.canvas_size(long_side)
    product = crop_to_alpha(cutout)
    # the photo's geometry, spot and light (shares of the photo: the scene's own canvas is
    # the photo's aspect), then the window of it the frame shows
    h, w = photo.shape[:2]
    geo = bdrop.geometry_of(scene, photo)  # its surfaces, horizon (and depth, where kept with the scene)
    spot = bd.spot or bdrop.default_spot(geo)
    read, strength = light.read_direction(photo, geo.main.top if geo.main else None)
    if geo.disparity is not None:  # the shading against the depth's normals, where they tell it
        read = (light.direction_from_depth(photo, geo.disparity) or (read,))[0]
    m = geo.main
    edge = light.shadow_edge_width(photo, m.top, m.bottom, m.left, m.right) if m else None  # its own shadows' blur
    direction = light.above_horizon(bd.light) if bd.light is not None else read
    softness, length, scale = light.photo_softness(strength), scene.shadow.length, 1.0
    # the product's height: the seller's (or the default) fill is a share of the delivered
    # frame, scaled by depth to the spot; a real size is the photo's, as the window shows it
    cw, ch = window_size((w, h), (W, H))
    ref = (bd.reference_box, bd.reference_cm) if bd.reference_box and bd.reference_cm else None
    fill = bdrop.fill_at(geo, spot, product.size, (w, h), (bd.fill or bdrop.DEFAULT_FILL) * ch / h, bd.product_cm,
                         bd.surface_cm, ref) * h / ch
    win = backdrop_window((w, h), (W, H), spot, product.size, fill)
    plate8, upscaler, factor = backdrop_plate(photo, win, (W, H), upscale)
    if edge is not None:  # as soft as the photo's own shadows, as the frame shows them
        softness = light.softness_for_edge(edge * h / win.h, fill)
    if seed:
        rng = np.random.default_rng([seed, 31])
        jitter = rng.uniform(-0.25, 0.2) * (0.2 if edge is not None else 1.0)  # a measured softness stays near
        softness = float(np.clip(softness + jitter, 0.0 if edge is not None else 0.1, 1.0))
        length = float(np.clip(length * rng.uniform(0.7, 1.3), 0.05, 2.0))
        scale = float(rng.uniform(0.94, 1.03))
    box = bdrop.stand_box(product.size, (W, H), win.spot, fill * scale)
    placed = resize_product(product, box)
    out8 = plate8.copy()
    if bd.depth_of_field > 0:
        soft = bdrop.depth_of_field(plate8.astype(np.float32) / 255.0, box.y + box.h, bd.depth_of_field)
        out8 = cv2.convertScaleAbs(soft, alpha=255.0)
    def row(y: float) -> int:  # a share of the photo's height as a row of the frame
        return round((y * h - win.y) / win.h * H)

    plane = (row(geo.main.top), row(geo.horizon)) if geo.main and geo.main.contains(*spot) else None
    shade = light.shadows(placed[..., 3], box, (H, W), direction, scene.shadow.contact, scene.shadow.cast, length,
                          softness, plane)
    light.darken(out8, shade)  # only round the product's foot; elsewhere the photo's pixels stay
    if light_match > 0:
        placed = light.shaded(placed, out8, box, light_match, bd.light)
    _place_product(out8, placed, box, np.ones(3, np.float32))
    look_info = {"light_direction": round(direction, 1), "light_softness": round(softness, 2),
                 "spot": [round(win.spot[0], 3), round(win.spot[1], 3)], "fill": round(fill * scale, 3),
                 "backdrop": bd.image, "geometry": geo.as_dict()}
    made = frame_record((W, H), f"photo of {w}×{h} px, {win.w}×{win.h} of it shown", product, box, upscaler,
                        factor)
    return Composition(Image.fromarray(out8, "RGB"), box, seed, round(direction, 2), SIDE, look_info, made)


class ClassicGenerator(Generator):
    """The embedded default: no weights, no prompt, the CPU."""

    title = "classic compositor"
    reads_prompt = False  # it starts as soon as the cut-out is ready
    redraws_product = False

    def generate(self, request: GenerateRequest) -> Generated:
        photo = np.asarray(request.backdrop.convert("RGB")) if request.backdrop is not None else None
        c = compose(request.scene, request.cutout, request.seed, request.long_side, request.view, photo,
                    request.light_match, request.upscale)
        return Generated(c.image, c.box,
                         {"light_direction": c.light_direction, "view": c.view, "look": c.look, "made": c.made})
