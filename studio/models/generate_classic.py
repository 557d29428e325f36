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


def compose(scene: Scene, cutout: Image.Image, seed: int, long_side: int | None = None,
            view: str | None = None, backdrop: np.ndarray | None = None, light_match: float = 0.0) -> Composition:
    """One variant: the scene built around the cut-out (RGBA, decontaminated), as the
    variant's seed frames it (classic_look). `view` (side or top) as detected from the
    cut-out when not given: a product photographed from above is laid flat. With a
    `backdrop` photo (a scene with `[backdrop]`), that photo is the plate. `light_match`
    (0..1) adapts the product's shading to the plate (imaging.light; 0: its own pixels)."""
    if backdrop is not None:
        return compose_on_backdrop(scene, cutout, seed, backdrop, long_side, light_match)
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
    return Composition(Image.fromarray(out8, "RGB"), box, seed, round(key_light, 2), view, frame.describe())


def compose_on_backdrop(scene: Scene, cutout: Image.Image, seed: int, photo: np.ndarray,
                        long_side: int | None = None, light_match: float = 0.0) -> Composition:
    """One variant on the seller's backdrop photo: the photo covers the canvas; the
    product stands with its foot on the scene's spot (or the one found on the surface)
    at its fill of the height; contact and cast shadow along the light read from the
    photo (or the scene's); the plate behind softened if asked; light wrap at the rim.
    Outside the product and its shadow the frame is the photo's own pixels. Variants
    differ in the light's softness, the shadow's length and a touch of scale; the spot
    stays, so a catalog on one backdrop lines up."""
    from studio.imaging import backdrop as bdrop

    bd = scene.backdrop
    W, H = scene.canvas_size(long_side)
    product = crop_to_alpha(cutout)
    plate8 = bdrop.plate(photo, (W, H))
    geo = bdrop.geometry_of(scene, plate8)  # its surfaces, horizon (and depth, where kept with the scene)
    spot = bd.spot or bdrop.default_spot(geo)
    read, strength = light.read_direction(plate8, geo.main.top if geo.main else None)
    direction = light.above_horizon(bd.light) if bd.light is not None else read
    softness, length, scale = light.photo_softness(strength), scene.shadow.length, 1.0
    if seed:
        rng = np.random.default_rng([seed, 31])
        softness = float(np.clip(softness + rng.uniform(-0.25, 0.2), 0.1, 1.0))
        length = float(np.clip(length * rng.uniform(0.7, 1.3), 0.05, 2.0))
        scale = float(rng.uniform(0.94, 1.03))
    fill = bdrop.fill_at(geo, spot, product.size, (W, H), bd.fill, bd.product_cm, bd.surface_cm)
    box = bdrop.stand_box(product.size, (W, H), spot, fill * scale)
    placed = resize_product(product, box)
    out8 = plate8.copy()
    if bd.depth_of_field > 0:
        soft = bdrop.depth_of_field(plate8.astype(np.float32) / 255.0, box.y + box.h, bd.depth_of_field)
        out8 = cv2.convertScaleAbs(soft, alpha=255.0)
    plane = (round(geo.main.top * H), round(geo.horizon * H)) if geo.main and geo.main.contains(*spot) else None
    shade = light.shadows(placed[..., 3], box, (H, W), direction, scene.shadow.contact, scene.shadow.cast, length,
                          softness, plane)
    light.darken(out8, shade)  # only round the product's foot; elsewhere the photo's pixels stay
    if light_match > 0:
        placed = light.shaded(placed, out8, box, light_match, bd.light)
    _place_product(out8, placed, box, np.ones(3, np.float32))
    look_info = {"light_direction": round(direction, 1), "light_softness": round(softness, 2),
                 "spot": [round(spot[0], 3), round(spot[1], 3)], "fill": round(fill * scale, 3), "backdrop": bd.image,
                 "geometry": geo.as_dict()}
    return Composition(Image.fromarray(out8, "RGB"), box, seed, round(direction, 2), SIDE, look_info)


class ClassicGenerator(Generator):
    """The embedded default: no weights, no prompt, the CPU."""

    title = "classic compositor"
    reads_prompt = False  # it starts as soon as the cut-out is ready
    redraws_product = False

    def generate(self, request: GenerateRequest) -> Generated:
        photo = np.asarray(request.backdrop.convert("RGB")) if request.backdrop is not None else None
        c = compose(request.scene, request.cutout, request.seed, request.long_side, request.view, photo,
                    request.light_match)
        return Generated(c.image, c.box,
                         {"light_direction": c.light_direction, "view": c.view, "look": c.look})
