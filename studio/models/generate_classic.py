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

import math
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
from studio.models.base import Generated, GenerateRequest, Generator
from studio.models.classic_look import look
from studio.models.classic_props import draw_props, flat_shadow
from studio.scenes import Scene


@dataclass
class Composition:
    image: Image.Image  # RGB, the scene with the product in it
    box: Box  # where the product was placed
    seed: int
    light_direction: float
    view: str = SIDE  # how the product was photographed: side (stood on the floor) or top (laid flat)
    look: dict = field(default_factory=dict)  # what this variant's frame changed (classic_look)


def _noise(h: int, w: int, rng: np.random.Generator, cell: float, octaves: int = 4) -> np.ndarray:
    """Smooth multi-octave value noise in about [-1, 1] (cheap: random grids, resized).
    The octaves are summed on a grid a quarter as fine as the finest one and resized to
    full size once: none of them has detail that grid cannot hold."""
    step = max(1, int(cell / 2 ** (octaves - 1) / 4))
    sh, sw = max(2, -(-h // step)), max(2, -(-w // step))
    out = np.zeros((sh, sw), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        out += amp * cv2.resize(grid, (sw, sh), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
        cell = max(1.0, cell / 2)
    out *= 1 / total
    return out if (sh, sw) == (h, w) else cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC)


def _pow(x: np.ndarray, n: int) -> np.ndarray:
    """x**n for a whole exponent by squaring (numpy's pow is several times slower)."""
    out, sq = None, x
    while n:
        if n & 1:
            out = sq.copy() if out is None else np.multiply(out, sq, out=out)
        n >>= 1
        if n:
            sq = sq * sq
    return out


def _texture(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A (h, w) pattern in [0, 1], 1 where the texture colour shows most."""
    # coordinates as a column and a row: every pattern below broadcasts them to (h, w)
    ys, xs = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    s = max(h, w)
    if kind == "marble":
        # long thin diagonal veins, gently warped, over a soft cloudy grey
        veins = _noise(h, w, rng, s / 3, 5)
        veins *= 1.6
        veins += (xs * (0.8 * 5 / s) + ys * (0.45 * 5 / s))
        fine = _noise(h, w, rng, s / 5, 4)
        fine *= 2.5
        fine += (xs * (0.3 * 13 / s) + ys * (13 / s))
        out = _noise(h, w, rng, s / 8, 4)
        out *= 0.09
        out += 0.09  # 0.18 × the clouds in [0, 1]
        for wave, power, weight in ((veins, 14, 1.1), (fine, 24, 0.5)):
            np.sin(wave, out=wave)
            np.abs(wave, out=wave)
            np.subtract(1, wave, out=wave)
            peak = _pow(wave, power)
            peak *= weight
            out += peak
        return np.clip(out, 0, 1, out=out)
    if kind == "wood":
        warp = _noise(h, w, rng, s / 4, 3) * 12
        grain = 0.5 + 0.5 * np.sin(ys / s * 160 + warp + _noise(h, w, rng, s / 40, 2) * 2)
        planks = (np.floor(ys / (s / 6)) % 2) * 0.15
        return np.clip(grain * 0.7 + planks + 0.15 * _noise(h, w, rng, s / 80, 2), 0, 1)
    if kind == "concrete":
        n = _noise(h, w, rng, s / 10, 6) * 0.6 + _noise(h, w, rng, 3, 1) * 0.4
        pits = (rng.random((h, w)) > 0.997).astype(np.float32)
        pits = cv2.GaussianBlur(pits, (0, 0), 1.2) * 6
        return np.clip(0.5 + 0.5 * n + pits, 0, 1)
    if kind == "linen":
        weave = 0.5 + 0.25 * np.sin(xs * 1.9) + 0.25 * np.sin(ys * 1.7)
        folds = _noise(h, w, rng, s / 5, 3)
        return np.clip(0.5 * weave + 0.3 * (folds + 1) / 2 + 0.2 * (_noise(h, w, rng, 2, 1) + 1) / 2, 0, 1)
    if kind == "sand":
        ripples = 0.5 + 0.5 * np.sin(ys / s * 70 + _noise(h, w, rng, s / 5, 3) * 5)
        grains = (rng.random((h, w)).astype(np.float32))
        return np.clip(0.35 * ripples + 0.65 * grains, 0, 1)
    if kind == "paper":
        return np.clip(0.5 + 0.5 * _noise(h, w, rng, 4, 3), 0, 1)
    return np.zeros((h, w), np.float32)


def _backdrop(scene: Scene, W: int, H: int, rng: np.random.Generator, light_dir: float) -> np.ndarray:
    """The empty scene: RGB float image in [0, 1]."""
    c = scene.classic
    colors = [hex_rgb(x) for x in c.colors]
    ys = np.linspace(0, 1, H, dtype=np.float32)[:, None]
    horizon = c.horizon
    # the backdrop's colour changes only from row to row: (H, 1, 3) until the texture
    if c.backdrop == "flat":
        base = np.broadcast_to(colors[0], (H, 1, 3)).astype(np.float32)
        floor = np.ones((H, 1), np.float32)
    elif c.backdrop == "gradient":
        stops = np.linspace(0, 1, len(colors))
        base = np.stack([np.interp(ys[:, 0], stops, [col[i] for col in colors]) for i in range(3)], -1)
        base = base[:, None, :].astype(np.float32)
        floor = np.clip((ys - horizon) / 0.05, 0, 1)
    else:
        wall, ground = colors[0], colors[-1]
        # a paper sweep curves gently from wall to floor; a wall meets the floor at an edge
        width = 0.12 if c.backdrop == "sweep" else 0.006
        t = 1 / (1 + np.exp(np.clip(-(ys - horizon) / width, -60, 60)))
        base = (wall * (1 - t)[..., None] + ground * t[..., None]).reshape(H, 1, 3).astype(np.float32)
        floor = t
        if c.backdrop == "wall-floor":
            # the floor recedes: a touch darker towards the horizon
            base *= (1 - 0.12 * np.clip(1 - (ys - horizon) / (1 - horizon + 1e-3), 0, 1) * t)[..., None]

    weight = None
    if c.texture != "none":
        # the surface texture lies on the floor, compressed with distance (perspective)
        tex = _texture(c.texture, H, W, rng)
        if c.backdrop in ("sweep", "wall-floor"):
            depth = np.linspace(0, 1, H) - horizon
            rows = np.clip(depth / (1 - horizon), 0, 1) ** 0.6
            src = (rows * (H - 1)).astype(np.float32)
            map_y = np.broadcast_to(src[:, None], (H, W)).astype(np.float32)
            map_x = np.broadcast_to(np.arange(W, dtype=np.float32)[None, :], (H, W)).astype(np.float32)
            tex = cv2.remap(tex, map_x, map_y, cv2.INTER_LINEAR)
            # above the horizon there is no floor to see: the texture's mean, not its first row
            tex[depth < 0] = float(tex[depth >= 0].mean()) if (depth >= 0).any() else 0.0
            # far texture goes soft (depth of field)
            tex = tex * floor + cv2.GaussianBlur(tex, (0, 0), 2.5) * (1 - floor)
        weight = tex * (floor if c.backdrop != "flat" else 1.0)
        weight *= c.texture_strength

    # light falloff: brighter towards the key light, softer light falls off less; smooth,
    # so worked out on a grid an eighth as fine and enlarged
    h8, w8 = max(2, H // 8), max(2, W // 8)
    xs = np.linspace(-1, 1, w8, dtype=np.float32)[None, :]
    yy = np.linspace(-1, 1, h8, dtype=np.float32)[:, None]
    ang = math.radians(light_dir)
    toward = xs * math.cos(ang) - yy * math.sin(ang)
    falloff = 1 + (0.12 * (1 - scene.lighting.softness) + 0.04) * toward
    if c.vignette:
        falloff *= 1 - c.vignette * 0.5 * np.clip(xs ** 2 + yy ** 2 - 0.3, 0, None)
    falloff = cv2.resize(falloff.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    # channel by channel: the backdrop's colour changes from row to row only, and numpy
    # broadcasts a column over a plane far quicker than over (H, W, 3)
    tc = hex_rgb(c.texture_color)
    planes = []
    for ch in range(3):
        col = base[:, 0, ch][:, None]
        plane = falloff * col if weight is None else (col + (tc[ch] - col) * weight) * falloff  # base·(1 − w) + tc·w
        planes.append(np.minimum(plane, 1, out=plane))  # nothing here is negative
    return cv2.merge(planes)


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
    placed = resize_product(product, box)  # box.h × box.w × RGBA

    img = _backdrop(scene, W, H, rng, key_light)
    draw_props(img, frame, box, top_down)
    if top_down:
        shade, dark = flat_shadow(placed[..., 3], box, (H, W), frame)
        img[dark] *= (1 - shade)[..., None]
    else:
        shade = _shadows(scene, placed[..., 3], box, (H, W), key_light)
        dark = masks.region(shade > 0, 0)  # shadows lie round the product's foot: darken only there
        if dark is not None:
            img[dark] *= (1 - shade[dark])[..., None]
    if scene.reflection.strength > 0:
        _reflect(scene, img, placed, box)
    # global grade: the scene's light colour over everything; scaled, rounded and clipped
    # to 8 bits in one pass
    grade = hex_rgb(scene.classic.grade)
    g = grade * 255
    out8 = cv2.multiply(img, (float(g[0]), float(g[1]), float(g[2]), 0.0), dtype=cv2.CV_8U)
    if light_match > 0:
        placed = light.shaded(placed, out8, box, light_match)
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
