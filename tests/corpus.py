"""A generated corpus of product photos as people take them, with true masks.

Products (bottles, boxes, mugs with a handle hole, jars, shoes, flat items, glass)
on home backgrounds (a bedsheet with folds, wood grain, a wall over a table, paper
with a vignette, dark cloth, a busy shelf), with soft cast shadows that are
background, not product; framed small, large or touching the border; 256 px to
12 MP, 1:4 to 4:1; saved as JPEG, PNG, WebP, greyscale, 16-bit, palette, RGBA with
transparency, CMYK and with EXIF rotations. Everything is made here from a seed:
nothing is downloaded.

`specs()` lists them; `render(spec)` draws one (RGB and the true mask, upright);
`encode(spec, rgb)` gives the file's bytes as they would arrive.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

PRODUCTS = ("bottle", "box", "mug", "jar", "shoe", "flat", "glass")
BACKGROUNDS = ("bedsheet", "wood", "wall-table", "paper", "dark", "busy")
FRAMINGS = ("normal", "small", "large", "border", "normal")
LONG_SIDES = (640, 256, 1024, 384, 800, 512, 1600, 2048, 720, 3000, 4000)
ASPECTS = ((4, 3), (1, 1), (3, 4), (2, 1), (1, 2), (3, 2), (4, 1), (2, 3), (1, 4))
FORMATS = ("jpeg", "png", "webp", "L", "I;16", "P", "RGBA", "CMYK", "jpeg-exif")
EXIF_ROTATIONS = (6, 3, 8)  # 90° clockwise, 180°, 90° anticlockwise


@dataclass(frozen=True)
class Spec:
    index: int
    product: str
    background: str
    framing: str
    shadow: bool
    width: int
    height: int
    fmt: str
    rotation: int  # EXIF orientation written into the file (1 = none)
    seed: int

    @property
    def name(self) -> str:
        return (f"{self.index:03d}-{self.product}-{self.background}-{self.framing}"
                f"{'-shadow' if self.shadow else ''}-{self.width}x{self.height}-{self.fmt.replace(';', '')}")

    @property
    def ext(self) -> str:
        return {"jpeg": "jpg", "jpeg-exif": "jpg", "CMYK": "jpg", "webp": "webp", "I;16": "png", "L": "png",
                "P": "png", "RGBA": "png", "png": "png"}[self.fmt]


def specs() -> list[Spec]:
    """210 photos: every product on every background in five framings; sizes, aspect
    ratios, file kinds and rotations cycle with co-prime periods so they mix."""
    out = []
    i = 0
    for framing_n, framing in enumerate(FRAMINGS):
        for product in PRODUCTS:
            for background in BACKGROUNDS:
                long = LONG_SIDES[i % len(LONG_SIDES)]
                aw, ah = ASPECTS[i % len(ASPECTS)]
                # the short side is at least 256 px (the upload minimum): thin photos are longer
                long = max(long, int(256 * max(aw, ah) / min(aw, ah)))
                w, h = (long, round(long * ah / aw)) if aw >= ah else (round(long * aw / ah), long)
                if w * h > 12_000_000:  # 12 MP at most, as phones take
                    f = (12_000_000 / (w * h)) ** 0.5
                    w, h = int(w * f), int(h * f)
                fmt = FORMATS[i % len(FORMATS)]
                rotation = EXIF_ROTATIONS[(i // len(FORMATS)) % len(EXIF_ROTATIONS)] if fmt == "jpeg-exif" else 1
                out.append(Spec(i, product, background, framing, (i + framing_n) % 2 == 0, w, h, fmt, rotation,
                                1000 + i))
                i += 1
    return out


def fast_subset() -> list[Spec]:
    """A spread of the corpus for the default test run: every product, background,
    framing and file kind at least once, nothing over 1 MP."""
    chosen: list[Spec] = []
    need = {("product", p) for p in PRODUCTS} | {("background", b) for b in BACKGROUNDS} | {
        ("framing", f) for f in FRAMINGS} | {("fmt", f) for f in FORMATS}
    for s in specs():
        if s.width * s.height > 1_000_000:
            continue
        keys = {("product", s.product), ("background", s.background), ("framing", s.framing), ("fmt", s.fmt)}
        if keys & need:
            chosen.append(s)
            need -= keys
    return chosen


# -- drawing -----------------------------------------------------------------------

def _noise(h: int, w: int, rng: np.random.Generator, cell: float) -> np.ndarray:
    small = rng.normal(0, 1, (max(2, int(h / cell) + 1), max(2, int(w / cell) + 1))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _background(kind: str, h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """RGB float image and the floor line (share of height) where a product stands."""
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    s = max(h, w)
    if kind == "bedsheet":  # soft folds: long ridges with light and shade, a fine weave
        base = np.array(rng.choice([[226, 214, 196], [200, 212, 228], [236, 236, 232]]), np.float32)
        angle = rng.uniform(-0.6, 0.6)
        u = xs * np.cos(angle) * w + ys * np.sin(angle) * h
        folds = np.sin(u / s * rng.uniform(8, 14) + _noise(h, w, rng, s / 4) * 1.5)
        light = 1 + 0.07 * folds + 0.03 * _noise(h, w, rng, s / 10)
        img = base * light[..., None] + _noise(h, w, rng, 2.5)[..., None] * 2.5
        return img, 0.75
    if kind == "wood":  # planks with warped grain and knots
        base = np.array(rng.choice([[176, 128, 84], [140, 98, 64], [204, 170, 128]]), np.float32)
        plank = np.floor(ys * rng.uniform(4, 7))
        grain = np.sin((xs * w) / rng.uniform(5, 12) + _noise(h, w, rng, s / 6) * 4 + plank * 3)
        img = base * (1 + 0.08 * grain + 0.05 * (plank % 2) - 0.04 * _noise(h, w, rng, s / 20))[..., None]
        seams = (np.abs(((ys * rng.uniform(4, 7)) % 1) - 0.5) > 0.49).astype(np.float32)
        img *= (1 - 0.25 * np.broadcast_to(seams, (h, w)))[..., None]
        return img, 0.8
    if kind == "wall-table":  # a painted wall over a table top: the horizon crosses the photo
        horizon = rng.uniform(0.35, 0.55)
        wall = np.array(rng.choice([[214, 206, 190], [180, 196, 204], [222, 218, 210]]), np.float32)
        table = np.array(rng.choice([[150, 110, 80], [96, 92, 88], [236, 234, 228]]), np.float32)
        t = np.clip((ys - horizon) / 0.004, 0, 1)
        img = wall * (1 - t)[..., None] + table * t[..., None]
        img = img * (1 - 0.12 * (1 - ys))[..., None] + _noise(h, w, rng, 3)[..., None] * 2
        img = np.broadcast_to(img, (h, w, 3)).copy()
        return img, min(0.92, horizon + 0.3)
    if kind == "paper":  # white paper with a vignette
        r2 = (xs - 0.5) ** 2 + (ys - 0.5) ** 2
        img = np.full((h, w, 3), 242, np.float32) * (1 - 0.35 * r2)[..., None]
        return img + _noise(h, w, rng, 3)[..., None] * 1.5, 0.78
    if kind == "dark":  # dark cloth
        img = np.array([38, 40, 48], np.float32) * (1 + 0.15 * _noise(h, w, rng, s / 8))[..., None]
        return img + _noise(h, w, rng, 2)[..., None] * 3, 0.8
    if kind == "busy":  # a shelf with other things on it
        img = np.full((h, w, 3), 190, np.float32) + _noise(h, w, rng, s / 10)[..., None] * 10
        for _ in range(18):
            c = rng.uniform(30, 230, 3)
            x0, y0 = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            rw, rh = int(rng.uniform(0.03, 0.12) * w), int(rng.uniform(0.03, 0.12) * h)
            cv2.rectangle(img, (x0, y0), (x0 + rw, y0 + rh), c.tolist(), -1)
        return cv2.GaussianBlur(img, (0, 0), 1.2), 0.8
    return _phone_background(kind, h, w, rng)


def _phone_background(kind: str, h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Backgrounds as a phone sees them at any resolution: every texture is sized to the
    scene (paper's mottling, a wall's roller stipple, wood grain, a fabric's weave are a
    share of the frame, as physical texture is), not to the pixel."""
    s = max(h, w)
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    if kind == "mottled-paper":  # paper with cloudy mottling and a vignette
        r2 = (xs - 0.5) ** 2 + (ys - 0.5) ** 2
        tone = np.array(rng.choice([[240, 238, 232], [236, 232, 222], [244, 244, 242]]), np.float32)
        mottle = 0.035 * _noise(h, w, rng, s / 40) + 0.015 * _noise(h, w, rng, s / 150)
        return tone * (1 - 0.3 * r2 + mottle)[..., None], 0.78
    if kind == "wall":  # a painted wall meeting a table of the same paint: one soft crease of shade
        horizon = rng.uniform(0.4, 0.55)
        paint = np.array(rng.choice([[218, 212, 200], [196, 206, 212], [226, 222, 214]]), np.float32)
        crease = 1 - 0.1 * np.exp(-((ys - horizon) / 0.02) ** 2)
        stipple = 0.015 * _noise(h, w, rng, s / 500) + 0.02 * _noise(h, w, rng, s / 12)
        light = 1 - 0.15 * (1 - ys) - 0.08 * (xs - 0.5) ** 2
        return paint * (crease * light + stipple)[..., None], min(0.92, horizon + 0.3)
    if kind == "fine-wood":  # a table top: planks, grain a share of the plank wide
        base = np.array(rng.choice([[176, 128, 84], [140, 98, 64], [204, 170, 128]]), np.float32)
        planks = rng.uniform(4, 7)
        plank = np.floor(ys * planks)
        grain = np.sin(xs * rng.uniform(120, 220) + _noise(h, w, rng, s / 6) * 4 + plank * 3)
        img = base * (1 + 0.07 * grain + 0.05 * (plank % 2) - 0.04 * _noise(h, w, rng, s / 20))[..., None]
        seams = (np.abs(((ys * planks) % 1) - 0.5) > 0.497).astype(np.float32)
        return img * (1 - 0.25 * np.broadcast_to(seams, (h, w)))[..., None], 0.8
    if kind == "fabric":  # a cloth with folds and a weave
        base = np.array(rng.choice([[190, 70, 60], [70, 110, 160], [205, 195, 170], [90, 120, 90]]), np.float32)
        angle = rng.uniform(-0.6, 0.6)
        u = xs * np.cos(angle) * w + ys * np.sin(angle) * h
        folds = np.sin(u / s * rng.uniform(6, 12) + _noise(h, w, rng, s / 4) * 1.5)
        period = s / rng.uniform(500, 900)
        weave = np.sin(np.arange(w, dtype=np.float32)[None, :] / period) * np.sin(
            np.arange(h, dtype=np.float32)[:, None] / period)
        light = 1 + 0.09 * folds + 0.03 * _noise(h, w, rng, s / 10) + 0.03 * weave
        return base * light[..., None], 0.75
    if kind == "concrete":  # a grey floor: stains, speckled aggregate, a little light falloff
        tone = np.array(rng.choice([[150, 150, 146], [176, 172, 164], [120, 122, 124]]), np.float32)
        stains = 0.05 * _noise(h, w, rng, s / 25) + 0.02 * _noise(h, w, rng, s / 120)
        speck = (rng.random((h, w)) < 0.01).astype(np.float32)
        speck = cv2.GaussianBlur(speck, (0, 0), max(0.6, s / 4000)) * 4
        light = 1 - 0.12 * ((xs - 0.4) ** 2 + (ys - 0.3) ** 2)
        return tone * (light + stains - 0.08 * speck)[..., None], 0.8
    if kind == "plain-paper":  # a seamless paper sweep: smooth, bright, almost no texture
        tone = np.array(rng.choice([[246, 246, 244], [232, 236, 240], [240, 234, 226]]), np.float32)
        sweep = 1 - 0.08 * np.clip((0.55 - ys) / 0.55, 0, 1) - 0.05 * (xs - 0.5) ** 2
        return tone * (sweep + 0.004 * _noise(h, w, rng, s / 60))[..., None], 0.8
    raise ValueError(kind)


def _product_mask(kind: str, bw: int, bh: int) -> np.ndarray:
    """The product's silhouette filling a bw × bh box (True inside)."""
    m = np.zeros((bh, bw), np.uint8)
    cx = bw // 2
    if kind == "bottle":
        cv2.ellipse(m, (cx, int(bh * 0.68)), (int(bw * 0.45), int(bh * 0.31)), 0, 0, 360, 1, -1)
        cv2.rectangle(m, (int(bw * 0.05), int(bh * 0.5)), (int(bw * 0.95), int(bh * 0.97)), 1, -1)
        cv2.rectangle(m, (int(bw * 0.36), 0), (int(bw * 0.64), int(bh * 0.5)), 1, -1)
    elif kind == "box":
        pts = np.array([[0.05, 0.12], [0.8, 0.0], [0.98, 0.85], [0.2, 1.0]]) * [bw - 1, bh - 1]
        cv2.fillPoly(m, [pts.astype(np.int32)], 1)
    elif kind == "mug":
        body = int(bw * 0.68)
        cv2.rectangle(m, (0, int(bh * 0.05)), (body, bh - 1), 1, -1)
        cy = int(bh * 0.48)
        cv2.ellipse(m, (body, cy), (bw - body - 1, int(bh * 0.3)), 0, -90, 90, 1, -1)
        cv2.ellipse(m, (body, cy), (max(1, int((bw - body) * 0.55)), int(bh * 0.17)), 0, -90, 90, 0, -1)  # the hole
    elif kind == "jar":
        cv2.rectangle(m, (0, int(bh * 0.18)), (bw - 1, bh - 1), 1, -1)
        cv2.rectangle(m, (int(bw * 0.08), 0), (int(bw * 0.92), int(bh * 0.2)), 1, -1)  # the lid
    elif kind == "shoe":
        cv2.ellipse(m, (int(bw * 0.5), int(bh * 0.78)), (int(bw * 0.5), int(bh * 0.22)), 0, 0, 360, 1, -1)
        cv2.ellipse(m, (int(bw * 0.3), int(bh * 0.5)), (int(bw * 0.3), int(bh * 0.48)), 0, 180, 360, 1, -1)
        cv2.rectangle(m, (0, int(bh * 0.5)), (int(bw * 0.9), int(bh * 0.85)), 1, -1)
    elif kind == "stool":  # a seat on two legs with a rung: a closed gap above the rung, open feet below
        cv2.rectangle(m, (0, 0), (bw - 1, int(bh * 0.16)), 1, -1)
        leg = max(2, int(bw * 0.13))
        cv2.rectangle(m, (int(bw * 0.06), 0), (int(bw * 0.06) + leg, bh - 1), 1, -1)
        cv2.rectangle(m, (int(bw * 0.94) - leg, 0), (int(bw * 0.94), bh - 1), 1, -1)
        cv2.rectangle(m, (int(bw * 0.06), int(bh * 0.58)), (int(bw * 0.94), int(bh * 0.58) + max(2, int(bh * 0.07))),
                      1, -1)
    elif kind == "jar-lid":  # a jar and, beside it on the table, its lid: two separate parts
        cv2.rectangle(m, (0, int(bh * 0.12)), (int(bw * 0.62), bh - 1), 1, -1)
        cv2.rectangle(m, (int(bw * 0.76), int(bh * 0.8)), (bw - 1, bh - 1), 1, -1)
    elif kind == "flat":  # a card or a folded shirt lying flat
        cv2.rectangle(m, (0, 0), (bw - 1, bh - 1), 1, -1)
    elif kind == "glass":
        cv2.ellipse(m, (cx, int(bh * 0.7)), (int(bw * 0.48), int(bh * 0.29)), 0, 0, 360, 1, -1)
        cv2.rectangle(m, (int(bw * 0.02), int(bh * 0.1)), (int(bw * 0.98), int(bh * 0.75)), 1, -1)
    else:
        raise ValueError(kind)
    return m.astype(bool)


PRODUCT_SHAPE = {"stool": (0.8, 1.0), "jar-lid": (1.0, 0.75), "bottle": (0.38, 1.0), "box": (1.0, 0.8), "mug": (1.0, 0.75), "jar": (0.8, 1.0), "shoe": (1.0, 0.45),
                 "flat": (1.0, 0.7), "glass": (0.6, 1.0)}


def _product_colours(kind: str, bh: int, bw: int, rng: np.random.Generator) -> np.ndarray:
    xs = np.linspace(-1, 1, bw, dtype=np.float32)[None, :, None]
    base = rng.uniform(30, 225, 3).astype(np.float32)
    shade = 1 - 0.25 * xs ** 2 + 0.1 * xs  # round things are lit from the left and turn away at the sides
    img = np.broadcast_to(base, (bh, bw, 3)) * shade
    if kind in ("box", "jar", "bottle", "jar-lid"):  # a label
        y0, y1 = int(bh * 0.55), int(bh * 0.8)
        img = img.copy()
        img[y0:y1] = np.array(rng.uniform(200, 250, 3), np.float32) * shade[0]
        for k in range(3):
            y = y0 + (k + 1) * (y1 - y0) // 4
            img[y:y + max(1, bh // 80), int(bw * 0.2):int(bw * 0.8)] = 40
    if kind == "flat":
        img = img + _noise(bh, bw, rng, max(4, bw / 12))[..., None] * 12
    return img


_WHOLE: dict[Spec, int] = {}  # the product's pixels, the part the frame cuts off included


def whole_product_pixels(spec: Spec) -> int:
    """How many pixels the whole product covers, inside the photo or not (a product cut
    by the frame covers more than its true mask)."""
    if spec not in _WHOLE:
        render(spec)
    return _WHOLE[spec]


def product_iou(got: np.ndarray, truth: np.ndarray, spec: Spec) -> float:
    """IoU of a cut-out with the whole product: a product cut by the frame can't be cut
    out whole, whatever the cut-out does with the part inside it."""
    inter = int(np.logical_and(got, truth).sum())
    union = int(np.logical_or(got, truth).sum()) + whole_product_pixels(spec) - int(truth.sum())
    return inter / max(union, 1)


def render(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 photo, true mask bool), upright."""
    rng = np.random.default_rng(spec.seed)
    W, H = spec.width, spec.height
    img, floor = _background(spec.background, H, W, rng)
    rel_w, rel_h = PRODUCT_SHAPE[spec.product]
    share = {"normal": 0.45, "small": 0.12, "large": 0.85, "border": 0.55}[spec.framing]
    scale = share * min(W / rel_w, H / rel_h)
    bw, bh = max(12, int(rel_w * scale)), max(12, int(rel_h * scale))
    bw, bh = min(bw, W), min(bh, H)
    x = int((W - bw) / 2 + rng.uniform(-0.1, 0.1) * W)
    y = int(floor * H - bh)
    if spec.framing == "border":  # cut by the photo's edge
        x = -bw // 4 if rng.random() < 0.5 else W - bw + bw // 4
    x = int(np.clip(x, -bw // 4, W - bw + bw // 4))
    y = int(np.clip(y, 0, H - bh))
    shape = _product_mask(spec.product, bw, bh)
    mask = np.zeros((H, W), bool)
    xs0, xs1 = max(0, x), min(W, x + bw)
    mask[y:y + bh, xs0:xs1] = shape[:, xs0 - x: xs1 - x]
    _WHOLE[spec] = int(shape.sum())
    if spec.shadow:  # a soft cast shadow on the background, thrown to one side: not product
        sh = np.zeros((H, W), np.float32)
        off = int(bw * rng.uniform(0.15, 0.35)) * (1 if rng.random() < 0.5 else -1)
        m8 = mask.astype(np.uint8)
        moved = np.roll(np.roll(m8, off, axis=1), int(bh * 0.04), axis=0).astype(np.float32)
        sh = np.maximum(sh, moved * 0.9)
        sh = cv2.GaussianBlur(sh, (0, 0), max(2.0, bw / 25))
        img = img * (1 - 0.45 * sh[..., None])
    behind = img[y:y + bh, xs0:xs1].copy()
    colours = _product_colours(spec.product, bh, bw, rng)
    if spec.product == "glass":  # mostly what lies behind it, tinted, with a highlight
        colours = np.zeros((bh, bw, 3), np.float32)
        colours[:, xs0 - x: xs1 - x] = behind * 0.75 + np.array([40, 60, 70], np.float32) * 0.25
        colours[:, int(bw * 0.2):int(bw * 0.26)] += 60
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.8)[..., None]
    layer = np.zeros((H, W, 3), np.float32)
    layer[y:y + bh, xs0:xs1] = colours[:, xs0 - x: xs1 - x]
    img = img * (1 - soft) + layer * soft
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), mask


_UNROTATE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def encode(spec: Spec, rgb: np.ndarray) -> bytes:
    """The file as a camera, a phone or an editor would have saved it."""
    im = Image.fromarray(rgb, "RGB")
    buf = io.BytesIO()
    if spec.fmt == "jpeg":
        im.save(buf, "JPEG", quality=90)
    elif spec.fmt == "jpeg-exif":
        # the camera stores the sensor's pixels and a tag saying how to turn them upright
        exif = Image.Exif()
        exif[0x0112] = spec.rotation
        im.transpose(_UNROTATE[spec.rotation]).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    elif spec.fmt == "png":
        im.save(buf, "PNG", compress_level=1)
    elif spec.fmt == "webp":
        im.save(buf, "WEBP", quality=85)
    elif spec.fmt == "L":
        im.convert("L").save(buf, "PNG", compress_level=1)
    elif spec.fmt == "I;16":
        grey = np.asarray(im.convert("L"), np.uint16) * 257
        Image.fromarray(grey.astype("<u2")).save(buf, "PNG", compress_level=1)  # mode I;16
    elif spec.fmt == "P":
        im.quantize(64).save(buf, "PNG", compress_level=1)
    elif spec.fmt == "RGBA":  # a cut-out someone made elsewhere: transparent round the edges
        a = np.full(rgb.shape[:2], 255, np.uint8)
        m = max(2, min(rgb.shape[:2]) // 20)
        a[:m], a[-m:], a[:, :m], a[:, -m:] = 0, 0, 0, 0
        Image.fromarray(np.dstack([rgb, a]), "RGBA").save(buf, "PNG", compress_level=1)
    elif spec.fmt == "CMYK":
        im.convert("CMYK").save(buf, "JPEG", quality=90)
    else:
        raise ValueError(spec.fmt)
    return buf.getvalue()


HOME_PRODUCTS = ("bottle", "box", "mug", "jar", "shoe")
HOME_BACKGROUNDS = ("bedsheet", "wood", "wall-table", "paper")


def home_set(seeds: int = 2, width: int = 1600, height: int = 1200) -> list[Spec]:
    """The cut-out benchmark (issue 20): bottles, boxes, mugs with handle holes, jars and
    shoes on bedsheets, wood, a wall over a table and paper, with and without a soft
    cast shadow, about 2 MP, PNG (what the segmenter sees is the pixels, not the file)."""
    return _grid(seeds, HOME_PRODUCTS, HOME_BACKGROUNDS, width, height, "png", 5000, 97)


def _grid(seeds: int, products: tuple[str, ...], backgrounds: tuple[str, ...], width: int, height: int, fmt: str,
          seed_base: int, seed_step: int) -> list[Spec]:
    """Every product on every background, without and with a cast shadow, `seeds` times."""
    out = []
    i = 0
    for seed in range(seeds):
        for product in products:
            for background in backgrounds:
                for shadow in (False, True):
                    out.append(Spec(i, product, background, "normal", shadow, width, height, fmt, 1,
                                    seed_base + seed_step * seed + i))
                    i += 1
    return out


PHONE_BACKGROUNDS = ("mottled-paper", "wall", "fine-wood", "fabric")
# issue 40: plain paper, a floor, products with a closed gap between legs and with a separate part
PLAIN_BACKGROUNDS = ("plain-paper", "mottled-paper", "wall", "concrete", "fine-wood")
PART_PRODUCTS = ("stool", "jar-lid", "mug", "jar")


def phone_set(seeds: int = 1, width: int = 4000, height: int = 3000,
              products: tuple[str, ...] = HOME_PRODUCTS) -> list[Spec]:
    """Photos as phones take them (issue 33): 12 MP by default, products on mottled paper,
    a painted wall, wood and fabric whose textures are sized to the scene, with and
    without a soft cast shadow, saved as JPEG (`phone_photo` adds the sensor's noise)."""
    return _grid(seeds, products, PHONE_BACKGROUNDS, width, height, "jpeg", 9000, 131)


def plain_set(seeds: int = 1, width: int = 4000, height: int = 3000,
              products: tuple[str, ...] = HOME_PRODUCTS + PART_PRODUCTS[:2]) -> list[Spec]:
    """Photos on the plainest backgrounds a seller uses (issue 40): a paper sweep, mottled
    paper, a painted wall, a concrete floor and a wooden one, with and without a cast
    shadow; products with holes (a mug's handle, a stool's legs and rung) and with a
    separate part (a jar's lid beside it). Seeds apart from phone_set's."""
    return _grid(seeds, products, PLAIN_BACKGROUNDS, width, height, "jpeg", 40_000, 173)


def phone_photo(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """(RGB, true mask) of a phone_set spec as the phone saves it: sensor noise at the
    pixel, then a JPEG at quality 90, decoded again."""
    rgb, mask = render(spec)
    rng = np.random.default_rng(spec.seed + 1)
    noisy = np.clip(rgb.astype(np.float32) + rng.normal(0, 1.5, rgb.shape).astype(np.float32), 0, 255)
    data = encode(spec, noisy.astype(np.uint8))
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), mask


def cup_from_above(h: int = 900, w: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A cup of coffee on a saucer photographed from above on a wooden table, with its
    true mask: round rim and saucer, coffee and crema inside, a handle sticking out; no
    base to stand on (a top view)."""
    rng = np.random.default_rng(seed)
    img, _ = _background("wood", h, w, rng)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, r = w * 0.5, h * 0.5, min(h, w) * 0.24
    d = np.hypot(xs - cx, ys - cy)
    saucer = d < r * 1.45
    handle = ((xs - (cx + r * 1.12)) / (r * 0.32)) ** 2 + ((ys - cy) / (r * 0.13)) ** 2 < 1
    mask = saucer | handle
    # soft shadow of the whole, down and to the right
    sh = cv2.GaussianBlur(np.roll(np.roll(mask.astype(np.float32), int(r * 0.08), 0), int(r * 0.08), 1), (0, 0), r * 0.08)
    img = img * (1 - 0.35 * sh[..., None])
    china = np.array([238, 236, 230], np.float32)
    light = 1 - 0.12 * np.clip((xs - cx + ys - cy) / (2 * r), -1, 1)  # lit from the top left
    cup = china * light[..., None]
    ring = np.clip(1 - np.abs(d - r * 1.02) / (r * 0.06), 0, 1)  # the cup's wall seen from above
    cup *= (1 - 0.12 * ring)[..., None]
    coffee = d < r * 0.82
    cup[coffee] = np.array([86, 52, 30], np.float32)
    crema = np.hypot(xs - cx + r * 0.15, ys - cy + r * 0.1) < r * 0.45
    blend = np.clip((r * 0.45 - np.hypot(xs - cx + r * 0.15, ys - cy + r * 0.1)) / (r * 0.2), 0, 1) * coffee
    cup = cup * (1 - 0.6 * blend[..., None]) + np.array([176, 128, 84], np.float32) * 0.6 * blend[..., None]
    cup[coffee & ~crema] *= 1 + 0.08 * rng.standard_normal((int((coffee & ~crema).sum()), 1)).astype(np.float32) * 0.1
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.8)[..., None]
    img = img * (1 - soft) + cup * soft
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), mask
