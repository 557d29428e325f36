"""One sensor for product and plate: the product photo's own noise, measured, laid on
the classic compositor's plate, which is rendered in float and quantised to 8 bits
through that grain (the grain is the dither: no smooth wall comes out stepped).

- `measure`: the noise a placed product carries (at its size in the frame): its level
  in 8-bit steps, its grain size (how far neighbouring pixels' noise is correlated:
  a phone's denoised, JPEG'd photo has coarser grain than a raw sensor's) and how much
  of it is shared by the three channels (luma) rather than colour speckle.
- `render`: grain with that character for a (h, w) plate, from the variant's rng.

The level is Immerkær's noise estimate (a Laplacian-difference mask that cancels
smooth shading) taken as a robust median over the product's flattest pixels, so its
texture, edges and label do not count as noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import cv2
import numpy as np

MIN_LEVEL = 0.9  # 8-bit steps: the least grain a plate gets (a clean render's dither; keeps walls unstepped)
MAX_LEVEL = 10.0  # past this a photo is noisy; the plate follows only so far
MEASURE_AREA = 120_000  # pixels of the product the noise is measured on, at most about
_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


@dataclass(frozen=True)
class Grain:
    level: float = MIN_LEVEL  # std of each channel's noise, in 8-bit steps
    size: float = 0.0  # the Gaussian blur (px) that gives white noise this grain's correlation
    shared: float = 0.8  # share of the noise's variance common to R, G and B (luma vs colour speckle)

    def describe(self) -> dict:
        return {k: round(v, 2) for k, v in asdict(self).items()}


def _level(plane: np.ndarray, where: np.ndarray) -> float:
    """Noise std (in the plane's units) from Immerkær's mask, over the pixels `where`."""
    r = np.abs(cv2.filter2D(plane, cv2.CV_32F, _MASK, borderType=cv2.BORDER_REFLECT))
    vals = r[where]
    if vals.size < 64:
        return 0.0
    # the mean |response| of the flattest pixels: the mask's norm is 6, and the median
    # of a half-normal is 0.674σ
    return float(np.median(vals)) / 0.674 / 6.0


def _flat(img: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The product's inside, away from its outline and its strongest detail."""
    solid = cv2.erode((alpha > 0.98).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    if solid.sum() < 256:
        return solid
    lum = img.mean(axis=2) if img.ndim == 3 else img
    smooth = cv2.GaussianBlur(lum, (0, 0), 1.5)
    grad = np.abs(cv2.Sobel(smooth, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    limit = np.quantile(grad[solid][::3], 0.4)  # (a third of them tell the quantile as well)
    # neither clipped highlights nor crushed shadows hold noise
    return solid & (grad <= limit) & (lum > 4) & (lum < 251)


def _ratio(luma: np.ndarray, solid: np.ndarray) -> float | None:
    """How the measured level changes on a 2× smaller copy, over the product's inside
    (the same pixels at both scales: the medians stay comparable; None where too few)."""
    h, w = luma.shape
    half_solid = cv2.resize(solid.astype(np.uint8), (w // 2, h // 2), interpolation=cv2.INTER_AREA) > 0
    half_solid = cv2.erode(half_solid.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if half_solid.sum() < 128:
        return None
    full = _level(luma, cv2.resize(half_solid.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0)
    half = cv2.resize(luma, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return _level(half, half_solid) / full if full > 0 else None


@lru_cache(maxsize=1)
def _size_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For white noise blurred by each grain size, measured as `measure` measures a
    photo: how the level changes on a 2× smaller copy, and the level seen (on the
    flattest pixels) per unit of true std. `measure` reads a grain's size from the first and its
    true std from the second."""
    rng = np.random.default_rng(7)
    sizes = np.array([0.0, 0.4, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2], np.float32)
    ratios, seen = [], []
    white = rng.standard_normal((384, 384)).astype(np.float32)
    for s in sizes:
        n = _blurred(white, float(s))
        n = n * (3.0 / n.std()) + 128
        ratios.append(_ratio(n, np.ones(n.shape, bool)))
        seen.append(_level(n, _flat(n, np.ones(n.shape, np.float32))) / 3.0)
    return np.array(ratios, np.float32), sizes, np.array(seen, np.float32)


def _blurred(noise: np.ndarray, size: float) -> np.ndarray:
    return noise if size < 0.3 else cv2.GaussianBlur(noise, (0, 0), size)


def measure(rgba: np.ndarray) -> Grain:
    """The grain of a placed product layer (float RGBA in [0, 1] or uint8), measured on
    its flattest inside pixels; the least grain when it has too few of them."""
    h, w = rgba.shape[:2]
    if h * w > 2 * MEASURE_AREA:  # the middle of a large product tells its noise as well as all of it
        f = (MEASURE_AREA / (h * w)) ** 0.5
        ch, cw = int(h * f), int(w * f)
        rgba = rgba[(h - ch) // 2: (h + ch) // 2, (w - cw) // 2: (w + cw) // 2]
    rgb = rgba[..., :3].astype(np.float32) * (255.0 if rgba.dtype != np.uint8 else 1.0)
    alpha = rgba[..., 3].astype(np.float32) / (255.0 if rgba.dtype == np.uint8 else 1.0)
    where = _flat(rgb, alpha)
    if where.sum() < 256:
        return Grain()
    level = float(np.mean([_level(np.ascontiguousarray(rgb[..., c]), where) for c in range(3)]))
    if level < 0.1:  # a clean render (or a photo smoothed flat): the least grain
        return Grain()
    luma = rgb.mean(axis=2)
    luma_level = _level(luma, where)
    ratio = _ratio(luma, cv2.erode((alpha > 0.98).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)
    # var(mean of 3) = σ²(1 + 2ρ)/3 for channels with correlation ρ
    rho = float(np.clip((3 * luma_level**2 / level**2 - 1) / 2, 0.0, 1.0))
    ratios, sizes, seen = _size_table()
    size = 0.0 if ratio is None else float(np.interp(ratio, ratios, sizes))
    # the mask sees less of coarse grain: the true std is larger than what it measured
    level /= float(np.interp(size, sizes, seen))
    return Grain(float(np.clip(level, MIN_LEVEL, MAX_LEVEL)), size, rho)


@lru_cache(maxsize=1)
def _normal_lut() -> np.ndarray:
    """256 quantiles of a unit Gaussian: random bytes through it are Gaussian noise at a
    twentieth of the cost of drawing normals (grain needs no finer steps)."""
    from statistics import NormalDist

    q = NormalDist().inv_cdf
    lut = np.array([q((i + 0.5) / 256) for i in range(256)], np.float32)
    return lut / lut.std()


@lru_cache(maxsize=16)
def _gain(size: float) -> float:
    """1 / the std white noise keeps after a blur of `size`: grain of every size keeps its level."""
    rng = np.random.default_rng(3)
    n = _blurred(rng.standard_normal((256, 256)).astype(np.float32), size)
    return 1.0 / float(n[16:-16, 16:-16].std())


def _noise(rng: np.random.Generator, shape: tuple[int, ...], size: float) -> np.ndarray:
    """Unit Gaussian noise of `shape` ((h, w) or (h, w, 3)), blurred to grain `size`."""
    raw = cv2.LUT(rng.integers(0, 256, shape, dtype=np.uint8), _normal_lut().reshape(1, 256))
    if size < 0.3:
        return raw
    out = cv2.GaussianBlur(raw, (0, 0), size)
    out *= _gain(round(size, 2))
    return out


def _mixing(shared: float) -> np.ndarray:
    """The 3×3 matrix a·I + b·(all ones) that turns three independent unit noises into
    three of unit variance correlated `shared` with each other (one pass of
    cv2.transform, instead of a common plane added to each)."""
    rho = float(np.clip(shared, 0.0, 0.98))
    # with r = b / (a + b): rho = (2r + r²) / (1 + 2r²), i.e. (2rho − 1)r² − 2r + rho = 0
    qa = 2 * rho - 1
    r = rho / 2 if abs(qa) < 1e-6 else (1 - np.sqrt(max(0.0, 1 - qa * rho))) / qa
    ab = 1 / np.sqrt(1 + 2 * r * r)  # a + b, for unit variance
    b = r * ab
    return (np.eye(3) * (ab - b) + b).astype(np.float32)


def render(grain: Grain, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(h, w, 3) float32 grain in [0, 1] units (std grain.level / 255 per channel), a
    share `grain.shared` of it common to the three channels (luma), the rest each
    channel's own (colour speckle)."""
    noise = _noise(rng, (h, w, 3), grain.size)
    return cv2.transform(noise, _mixing(grain.shared) * (grain.level / 255.0))


def finish(img: np.ndarray, product: np.ndarray, grade: np.ndarray, seed: int, clean: bool = False) -> np.ndarray:
    """A float RGB plate in [0, 1] times `grade` (per channel), with the grain measured on
    `product` (the placed layer, float RGBA) laid on, rounded to 8 bits: the grain is
    the dither. `clean`: no grain (a marketplace's pure white stays pure white)."""
    g = grade * 255.0
    gain = (float(g[0]), float(g[1]), float(g[2]), 0.0)
    if clean:
        return cv2.multiply(img, gain, dtype=cv2.CV_8U)
    h, w = img.shape[:2]
    noise = render(measure(product), h, w, np.random.default_rng([seed, 41]))
    out = cv2.multiply(img, gain)
    out = cv2.scaleAdd(noise, 255.0, out)
    return cv2.convertScaleAbs(cv2.max(out, 0.0))
