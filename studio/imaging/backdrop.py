"""A seller's own backdrop photo as the plate a product stands on, and its geometry.

- `plate`: the photo resized to cover the canvas and centre-cropped (its pixels, no
  other change).
- `find_surfaces` (`Geometry`, `Surface`): the top surfaces a product can stand on, as
  regions bounded by an edge behind and an edge in front (a table top, a podium's tier,
  a floor), the main one first, and the horizon. Read from the photo alone (the
  classical finder every user runs) and improved by a disparity map where a depth
  model read one when the backdrop was added (`geometry_of` crops the scene's kept map
  as the plate is cropped): regions whose disparity grows downwards face up.
- `surface_line`: the main surface's far edge (None: no surface found).
- `default_spot` on the main surface; `snap` a click onto the nearest surface.
- `scale_at`, `fill_at`: a product further back is smaller, in proportion to the
  disparity at its foot or its distance below the horizon; a real size from the
  surface's width; never wider than the surface it stands on.
- `stand_box`: the product's box with its foot on the spot and its height a share of
  the frame, kept inside the frame.
- `depth_of_field`: the plate behind the product (above its foot) softened, more with
  distance, for a seller who asks for it.
- `overlay`: the surfaces found drawn on the plate (the page's preview, the sheet).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from studio.imaging.compose import Box
from studio.imaging.light import soft_blur


def plate(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The photo (uint8 RGB) covering `size` (W, H): scaled so that both sides cover it,
    then the middle cropped out. Area averaging when shrinking, cubic when enlarging."""
    W, H = size
    h, w = photo.shape[:2]
    s = max(W / w, H / h)
    sw, sh = max(W, round(w * s)), max(H, round(h * s))
    scaled = cv2.resize(np.ascontiguousarray(photo), (sw, sh),
                        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    x0, y0 = (sw - W) // 2, (sh - H) // 2
    return np.ascontiguousarray(scaled[y0:y0 + H, x0:x0 + W])


def surface_line(photo: np.ndarray) -> float | None:
    """The main surface's far edge as a share of the height (0 top, 1 bottom), or None
    (a photo with no surface to find: a flat surface seen from above)."""
    main = find_surfaces(photo).main
    return None if main is None else main.top


def stand_box(product_size: tuple[int, int], canvas: tuple[int, int], spot: tuple[float, float],
              fill: float, margin: float = 0.04) -> Box:
    """The product's box: its height `fill` of the frame's (its width within the frame
    too), its foot's middle on `spot` (shares of the frame), moved in from the edges."""
    pw, ph = product_size
    W, H = canvas
    s = min(fill * H / ph, (1 - 2 * margin) * W / pw, (1 - 2 * margin) * H / ph)
    w, h = max(1, round(pw * s)), max(1, round(ph * s))
    x = round(spot[0] * W - w / 2)
    y = round(spot[1] * H - h)
    mx, my = round(margin * W), round(margin * H)
    x = min(max(x, mx), W - mx - w)
    y = min(max(y, my), H - my - h)
    return Box(int(x), int(y), int(w), int(h))


def depth_of_field(img: np.ndarray, foot_y: int, amount: float) -> np.ndarray:
    """`img` (float RGB) softened above the product's foot, the blur growing with the
    distance behind it (up to `amount` × 1% of the height, as a sigma); below, as it is."""
    if amount <= 0:
        return img
    H = img.shape[0]
    far = soft_blur(img, amount * 0.01 * H)
    rows = np.arange(H, dtype=np.float32)
    weight = np.clip((foot_y - rows) / max(1.0, 0.35 * H), 0, 1)[:, None, None]
    return img + (far - img) * weight



# -- the photo's geometry -------------------------------------------------------------------

WORK_WIDTH = 256  # the finder reads the photo at this width: edges and bands, not detail
EDGE_DE = 4.0  # a surface's edge: the mean colour steps by at least this ΔE (CIE76) across it
CENTRAL = (0.4, 0.6)  # an edge counts where it crosses this share of the width (where products stand) ...
COVER = 0.6  # ... over at least this much of it (a bokeh disc or a prop does not)
MIN_BAND = 0.015  # a surface is at least this share of the height deep
RELATIVE_EDGE = 0.25  # ... and at least this share of the photo's strongest such edge
SAME_BAND_DE = 6.0  # neighbouring bands closer than this in colour are one (wood grain, a shadow's soft edge)
HIGHEST = 0.2  # a surface starts below this share of the height (above it: the wall, the sky, a shelf)
LOWEST_FOOT = 0.5  # the main surface puts the product's foot at least this far down
DEFAULT_FILL = 0.45  # a standing product's height, share of the frame, on the main surface (no size given)


@dataclass(frozen=True)
class Surface:
    """A top surface a product can stand on: rows `top`..`bottom` and columns `left`..`right`
    as shares of the frame; `faces_up` when a depth map confirmed it."""

    top: float
    bottom: float
    left: float
    right: float
    faces_up: bool = False

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.top <= y <= self.bottom

    def as_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Geometry:
    """What the photo says about where a product stands: its top surfaces (the main one
    first), the horizon (share of the height; may lie above the frame: negative) and the
    camera's tilt in degrees (down is positive), and whether a depth map was read."""

    surfaces: tuple[Surface, ...]
    horizon: float
    tilt: float = 0.0
    from_depth: bool = False
    disparity: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def main(self) -> Surface | None:
        return self.surfaces[0] if self.surfaces else None

    def as_dict(self) -> dict:
        return {"surfaces": [s.as_dict() for s in self.surfaces], "horizon": round(self.horizon, 3),
                "tilt": round(self.tilt, 1), "from_depth": self.from_depth}


def _lab_small(photo: np.ndarray) -> np.ndarray:
    h, w = photo.shape[:2]
    sw = min(WORK_WIDTH, w)
    sh = max(8, round(h * sw / w))
    small = cv2.resize(np.ascontiguousarray(photo[..., :3]), (sw, sh), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _edge_rows(lab: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Rows where the colour steps across the middle of the frame (from side to side of
    CENTRAL, nearly level), strongest kept where several lie within 3 rows; and the
    per-pixel step (ΔE between the 3 rows above and the 3 below, smoothed along the row)."""
    h, w = lab.shape[:2]
    smooth = cv2.blur(lab, (max(3, w // 28) | 1, 1))
    k = 3
    cum = np.cumsum(np.pad(smooth, ((k, k), (0, 0), (0, 0)), mode="edge"), axis=0)
    above = (cum[k:k + h] - cum[0:h]) / k  # rows y-k .. y-1
    below = (cum[2 * k:2 * k + h] - cum[k:k + h]) / k  # rows y .. y+k-1
    step = np.linalg.norm(below - above, axis=2)
    c0, c1 = int(CENTRAL[0] * w), max(int(CENTRAL[0] * w) + 1, int(CENTRAL[1] * w))
    cover = (step[:, c0:c1] > EDGE_DE).mean(axis=1)
    strength = np.where(cover >= COVER, step[:, c0:c1].mean(axis=1), 0.0)
    strength[:k] = strength[h - k:] = 0  # the frame's own border is no edge
    # faint steps beside a strong one are texture, bokeh or a soft shadow, not a surface's edge
    strength[strength < RELATIVE_EDGE * strength.max()] = 0
    rows = []
    for y in np.argsort(-strength):
        if strength[y] <= 0:
            break
        if all(abs(int(y) - r) > k for r in rows):
            rows.append(int(y))
    return sorted(rows), step


def _band_stats(lab: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, float]:
    part = lab[y0:y1, x0:x1]
    texture = float(np.abs(np.diff(part[..., 0], axis=1)).mean()) if part.shape[1] > 1 else 0.0
    return part.reshape(-1, 3).mean(axis=0), texture


def _extent(step: np.ndarray, row: int, w: int) -> tuple[float, float]:
    """The run of columns round the middle where the edge at `row` is (a surface's width)."""
    on = step[max(0, row - 1):row + 2].max(axis=0) > EDGE_DE * 0.5
    mid = w // 2
    if not on[mid]:
        return 0.0, 1.0
    left = mid - int(np.argmin(on[mid::-1])) if not on[:mid + 1].all() else 0
    right = mid + int(np.argmin(on[mid:])) if not on[mid:].all() else w
    return left / w, right / w


def _faces_up(disparity: np.ndarray | None, y0: float, y1: float, x0: float, x1: float) -> bool | None:
    """Whether the depth map says rows y0..y1 (shares) face up: disparity (1 near) grows
    downwards there as on a floor, not flat as on a wall or the front of a step. None:
    no depth map, or one that tells nothing (flat)."""
    if disparity is None:
        return None
    h, w = disparity.shape
    d = disparity[int(y0 * h):max(int(y0 * h) + 2, int(y1 * h)), int(x0 * w):max(int(x0 * w) + 1, int(x1 * w))]
    if d.shape[0] < 2:
        return None
    rows = np.median(d, axis=1)
    slope = float(np.median(np.diff(rows))) * h  # disparity change over the frame's height
    return slope > 0.25


def find_surfaces(photo: np.ndarray, disparity: np.ndarray | None = None) -> Geometry:
    """The top surfaces in a backdrop photo (uint8 RGB, as it is framed), main first.

    The classical reading: the frame cut into bands at the edges that cross its middle;
    the band at the top is what stands behind (a wall, a backdrop, bokeh); a top surface
    is a band below it unlike it (in colour or texture) and lit from above: brighter than
    the band in front of it (the front of a table or a podium's step), or running to the
    frame's bottom (a table top, a floor). The main one is the topmost: a stacked
    podium's top tier, a table's top rather than its front. A `disparity` map (relative
    inverse depth as Depth Anything gives it: large = near; any size) decides which bands
    face up where it tells anything, and places the horizon."""
    lab = _lab_small(photo)
    h, w = lab.shape[:2]
    rows, step = _edge_rows(lab)
    cuts = [0, *rows, h]
    c0, c1 = int(CENTRAL[0] * w), max(int(CENTRAL[0] * w) + 1, int(CENTRAL[1] * w))
    bands = []  # (y0, y1, mean Lab, texture), neighbours alike merged
    for y0, y1 in zip(cuts[:-1], cuts[1:], strict=True):
        if y1 <= y0:
            continue
        mean, tex = _band_stats(lab, y0, y1, c0, c1)
        if bands and np.linalg.norm(bands[-1][2] - mean) < SAME_BAND_DE:
            p0, _, pm, pt = bands[-1]
            n0, n1 = bands[-1][1] - p0, y1 - y0
            bands[-1] = (p0, y1, (pm * n0 + mean * n1) / (n0 + n1), (pt * n0 + tex * n1) / (n0 + n1))
        else:
            bands.append((y0, y1, mean, tex))
    disp = None
    if disparity is not None and np.ptp(disparity) > 1e-3:
        d = np.asarray(disparity, np.float32)
        lo, hi = np.percentile(d, (2, 98))
        disp = np.clip((d - lo) / max(hi - lo, 1e-6), 0, 1)
    surfaces: list[Surface] = []
    if len(bands) > 1:
        wall_mean, wall_tex = bands[0][2], bands[0][3]
        accepted = -1
        for i, (y0, y1, mean, tex) in enumerate(bands[1:], 1):
            if (y1 - y0) < MIN_BAND * h or y0 < HIGHEST * h:
                continue
            last = i == len(bands) - 1
            unlike_wall = np.linalg.norm(mean - wall_mean) > SAME_BAND_DE or tex > 1.5 * wall_tex + 0.3
            lit = last or mean[0] > bands[i + 1][2][0] + 2.0
            front_of_previous = accepted == i - 1 and mean[0] < bands[i - 1][2][0] - 2.0  # a table's or a step's front
            left, right = _extent(step, y0, w)
            up = _faces_up(disp, y0 / h, y1 / h, max(left, CENTRAL[0]), min(right, CENTRAL[1]))
            if up is False or not unlike_wall or (up is None and (not lit or front_of_previous)):
                continue
            surfaces.append(Surface(y0 / h, y1 / h, left, right, bool(up)))
            accepted = i
    # the main one leaves a standing product room above its foot: the topmost whose spot is low enough
    roomy = [s for s in surfaces if _foot(s) >= LOWEST_FOOT]
    if roomy:
        surfaces.remove(roomy[0])
        surfaces.insert(0, roomy[0])
    horizon = _horizon(disp, surfaces[0] if surfaces else None)
    tilt = math.degrees(math.atan((0.5 - horizon) * 2 * math.tan(math.radians(VERTICAL_FOV / 2))))
    return Geometry(tuple(surfaces), horizon, tilt, disp is not None, disp)


VERTICAL_FOV = 50.0  # degrees: a phone's main camera held upright is about this


def _horizon(disp: np.ndarray | None, main: Surface | None) -> float:
    """Where the plane of the main surface would meet the sky: from the depth map, the
    row where its disparity (straight in the rows of a plane) falls to zero; without one,
    a camera looking a little down: above the surface's far edge by half its depth in
    the frame."""
    if main is None:
        return 0.0
    guess = main.top - 0.5 * (1 - main.top)
    if disp is None:
        return guess
    h, w = disp.shape
    y0, y1 = int(main.top * h), max(int(main.top * h) + 3, int(main.bottom * h))
    x0, x1 = int(max(main.left, CENTRAL[0]) * w), max(int(max(main.left, CENTRAL[0]) * w) + 1,
                                                      int(min(main.right, CENTRAL[1]) * w))
    rows = np.median(disp[y0:y1, x0:x1], axis=1)
    ys = (np.arange(y0, y0 + len(rows)) + 0.5) / h
    if len(rows) < 3:
        return guess
    a, b = np.polyfit(ys, rows, 1)
    if a <= 1e-3:
        return guess
    # relative disparity has an unknown offset: the fit's zero is only as good as that,
    # so it is kept between the guess's reach and the surface's far edge
    return float(np.clip(-b / a, main.top - 2.0, main.top - 0.02))


def default_spot(geometry: Geometry | None) -> tuple[float, float]:
    """(x, y) shares of the frame where the product's foot goes when the seller chose
    none: on the main top surface, a little in front of its middle (its far edge behind
    the product), as near the frame's centre as the surface allows; 0.78 down on a photo
    with no surface found."""
    main = geometry.main if geometry is not None else None
    if main is None:
        return 0.5, 0.78
    y = _foot(main)
    x = float(np.clip(0.5, main.left + 0.1 * (main.right - main.left), main.right - 0.1 * (main.right - main.left)))
    return round(x, 3), round(float(np.clip(y, 0.2, 0.95)), 3)


def _foot(s: Surface) -> float:
    return s.top + 0.55 * (s.bottom - s.top)


def snap(geometry: Geometry, x: float, y: float) -> tuple[float, float]:
    """A click (shares of the frame) moved onto the nearest surface found: inside it as
    it is; else onto the surface's nearest point. No surface: the click as it is."""
    best, where = None, (x, y)
    for s in geometry.surfaces:
        px = float(np.clip(x, s.left + 0.02, s.right - 0.02))
        py = float(np.clip(y, s.top + 0.25 * (s.bottom - s.top), s.bottom - 0.02 * (s.bottom - s.top)))
        d = math.hypot(px - x, py - y)
        if best is None or d < best:
            best, where = d, (px, py)
    return round(where[0], 3), round(where[1], 3)


def scale_at(geometry: Geometry, y: float, reference: float) -> float:
    """How large a product with its foot at row `y` is beside one at row `reference`
    (shares of the height): in proportion to the disparity at its foot where a depth map
    was read, else to its distance below the horizon (a plane seen in perspective)."""
    if geometry.disparity is not None and geometry.main is not None:
        d = geometry.disparity
        h, w = d.shape
        col = d[:, int(max(0, geometry.main.left) * w):max(1 + int(max(0, geometry.main.left) * w),
                                                           int(min(1, geometry.main.right) * w))]

        def at(v: float) -> float:
            return float(np.median(col[min(h - 1, max(0, int(v * h)))]))

        near, far = at(reference), at(y)
        if near > 0.05 and far > 0.02:
            return float(np.clip(far / near, 0.2, 3.0))
    hz = geometry.horizon
    return float(np.clip((y - hz) / max(1e-3, reference - hz), 0.2, 3.0))


def geometry_of(scene, plate8: np.ndarray) -> Geometry:
    """The geometry of a backdrop scene's plate (`plate`'s output): the surfaces found on
    it, with the depth map kept with the scene (when a depth model read it on adding)
    cropped as the plate was."""
    bd = scene.backdrop
    disparity = None
    if bd is not None and bd.depth:
        grid = np.asarray(bd.depth, np.float32)
        H, W = plate8.shape[:2]
        side = max(grid.shape)
        disparity = plate(grid, (max(2, round(side * W / max(W, H))), max(2, round(side * H / max(W, H)))))
    return find_surfaces(plate8, disparity)


def fill_at(geometry: Geometry, spot: tuple[float, float], product_size: tuple[int, int], canvas: tuple[int, int],
            fill: float | None = None, product_cm: float | None = None, surface_cm: float | None = None,
            reference: tuple[tuple[float, float, float, float], float] | None = None) -> float:
    """The product's height as a share of the frame's with its foot at `spot`: its real
    size where its height (`product_cm`) and either an object's box in the photo with its
    real height (`reference`: (x0, y0, x1, y1) shares, cm; scaled by depth from the
    object's foot to the spot) or the main surface's width across the photo
    (`surface_cm`) are known; else `fill` (or DEFAULT_FILL) on the main surface's
    default spot, scaled by depth to the spot (`scale_at`). Kept so that it fits above its
    foot and is no wider than the surface it stands on."""
    W, H = canvas
    pw, ph = product_size
    main = geometry.main
    if product_cm and reference is not None:
        (_, y0, _, y1), ref_cm = reference
        share = float(product_cm) / float(ref_cm) * (y1 - y0) * scale_at(geometry, spot[1], y1)
    elif product_cm and surface_cm and main is not None:
        width_px = (main.right - main.left) * W * scale_at(geometry, spot[1], main.top)
        share = float(product_cm) / float(surface_cm) * width_px / H
    else:
        share = (fill or DEFAULT_FILL) * scale_at(geometry, spot[1], default_spot(geometry)[1])
    share = min(share, spot[1] - 0.05)  # room above the foot inside stand_box's margin
    under = next((s for s in geometry.surfaces if s.contains(*spot)), None)
    if under is not None and under.right - under.left < 0.98:
        share = min(share, (under.right - under.left) * 0.95 * W * ph / max(1, pw) / H)
    return float(max(0.02, share))


def overlay(plate8: np.ndarray, geometry: Geometry, spot: tuple[float, float] | None = None) -> np.ndarray:
    """The plate (uint8 RGB) with the surfaces found drawn on it, as the page and the
    backdrop sheet show them: each tinted and outlined (the main one in orange, others in
    blue), the horizon dashed where it is in the frame, the spot as a cross."""
    out = plate8.copy()
    H, W = out.shape[:2]
    tint = out.copy()
    for i, s in enumerate(reversed(geometry.surfaces)):
        main = i == len(geometry.surfaces) - 1
        colour = (255, 140, 0) if main else (40, 140, 255)
        p0 = (round(s.left * W), round(s.top * H))
        p1 = (round(s.right * W) - 1, round(s.bottom * H) - 1)
        cv2.rectangle(tint, p0, p1, colour, -1)
        cv2.rectangle(out, p0, p1, colour, max(2, W // 300))
    cv2.addWeighted(tint, 0.22, out, 0.78, 0, dst=out)
    if 0 < geometry.horizon < 1:
        y = round(geometry.horizon * H)
        for x in range(0, W, max(8, W // 40)):
            cv2.line(out, (x, y), (min(W - 1, x + max(4, W // 80)), y), (255, 255, 255), max(1, W // 500))
    if spot is not None:
        cv2.drawMarker(out, (round(spot[0] * W), round(spot[1] * H)), (255, 64, 32), cv2.MARKER_CROSS,
                       max(12, W // 30), 3)
    return out
