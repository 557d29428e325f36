"""Colour correction, applied non-destructively from parameters kept with the job.

- auto white balance of the scene (grey-world on the background, partial, so a
  warm or neon scene keeps its mood but loses an accidental cast);
- product colour matched back to the original photo (an affine colour transform
  fitted on the product's pixels), with ΔE2000 measured before and after;
- manual exposure, temperature, tint, saturation and contrast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Adjustments:
    exposure: float = 0.0  # stops, -3..3
    temperature: float = 0.0  # -100 (cooler) .. 100 (warmer)
    tint: float = 0.0  # -100 (green) .. 100 (magenta)
    saturation: float = 0.0  # -100 .. 100
    contrast: float = 0.0  # -100 .. 100
    auto_white_balance: float = 0.0  # 0..1: how much of the grey-world correction to apply
    match_product: bool = True

    def as_dict(self) -> dict:
        return asdict(self)

    def changes_whole_image(self) -> bool:
        """Whether any global adjustment is set (the product match alone changes only the product)."""
        return any(v != 0 for k, v in self.as_dict().items() if k != "match_product")

    @classmethod
    def from_dict(cls, d: dict | None) -> Adjustments:
        d = d or {}
        return cls(**{k: type(getattr(cls(), k))(v) for k, v in d.items() if k in cls.__dataclass_fields__})


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] → linear light (the IEC 61966-2-1 curve)."""
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light → sRGB in [0, 1], clipped."""
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)


# 8-bit input needs only 256 values: a table is exact and far cheaper than pow().
_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0).astype(np.float32)
# and back: linear light in 1/65535 steps to 8-bit sRGB (finer than an 8-bit level anywhere)
_LINEAR_STEPS = 65535
_TO_SRGB8 = np.clip(linear_to_srgb(np.arange(_LINEAR_STEPS + 1) / _LINEAR_STEPS) * 255 + 0.5, 0, 255).astype(np.uint8)
_MAX_SAMPLES = 20_000
MATCHED_P95 = 0.5  # ΔE2000 under which the product already shows its own colours (rounding)  # pixels used to fit and to measure: plenty for statistics


def _linear_u8(rgb: np.ndarray) -> np.ndarray:
    return _TO_LINEAR[rgb]


def _srgb_u8(linear: np.ndarray) -> np.ndarray:
    """Linear light (any float) → 8-bit sRGB, clipped, through the table."""
    idx = linear * _LINEAR_STEPS + 0.5
    np.clip(idx, 0, _LINEAR_STEPS, out=idx)
    return _TO_SRGB8[idx.astype(np.int32)]


Sample = tuple[np.ndarray, np.ndarray]


def _sample(mask: np.ndarray) -> Sample:
    ys, xs = np.nonzero(mask)
    if len(ys) > _MAX_SAMPLES:
        # evenly spread over the mask's pixels in scan order (a random draw without
        # replacement shuffles all of them: 0.1 s for a product of a few megapixels)
        pick = np.linspace(0, len(ys) - 1, _MAX_SAMPLES).astype(np.int64)
        ys, xs = ys[pick], xs[pick]
    return ys, xs


def delta_e(a: np.ndarray, b: np.ndarray, mask: np.ndarray, sample: Sample | None = None) -> dict:
    """ΔE2000 statistics between two uint8 RGB images over a boolean mask (measured on
    a random sample of its pixels, or the given one)."""
    if not mask.any():
        return {"mean": 0.0, "p95": 0.0, "max": 0.0}
    ys, xs = sample if sample is not None else _sample(mask)
    if np.array_equal(a[ys, xs], b[ys, xs]):
        return {"mean": 0.0, "p95": 0.0, "max": 0.0}  # the same pixels (a pasted product): ΔE is 0
    from skimage.color import deltaE_ciede2000, rgb2lab  # scikit-image loads in ~0.6 s: when needed

    la = rgb2lab(a[ys, xs][None].astype(np.float32) / 255.0)
    lb = rgb2lab(b[ys, xs][None].astype(np.float32) / 255.0)
    d = deltaE_ciede2000(la, lb)[0]
    return {"mean": round(float(d.mean()), 3), "p95": round(float(np.percentile(d, 95)), 3),
            "max": round(float(d.max()), 3)}


def white_balance_gains(rgb: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per-channel linear gains that make the background's mean neutral (grey world)."""
    ys, xs = _sample(background)
    mean = _linear_u8(rgb[ys, xs]).mean(axis=0) + 1e-6
    return (mean.mean() / mean).astype(np.float32)


def match_product(rgb: np.ndarray, original: np.ndarray, mask: np.ndarray, sample: Sample | None = None) -> np.ndarray:
    """Fit an affine transform (3×3 + offset, in linear light) taking the product's
    pixels in `rgb` to the same pixels in `original`, and apply it inside the mask."""
    if mask.sum() < 50:
        return rgb
    ys, xs = sample if sample is not None else _sample(mask)
    src, dst = _linear_u8(rgb[ys, xs]), _linear_u8(original[ys, xs])
    coef, *_ = np.linalg.lstsq(np.hstack([src, np.ones((len(src), 1), np.float32)]), dst, rcond=None)
    lin = _linear_u8(rgb[mask])  # only the product's pixels change
    out = rgb.copy()
    out[mask] = _srgb_u8(lin @ coef[:3].astype(np.float32) + coef[3].astype(np.float32))
    return out


def apply_adjustments(rgb: np.ndarray, adj: Adjustments, background: np.ndarray | None = None) -> np.ndarray:
    """Manual and automatic global adjustments (not the product match)."""
    if not adj.changes_whole_image():
        return rgb.copy()
    lin = _linear_u8(rgb)
    if adj.auto_white_balance > 0 and background is not None and background.any():
        gains = white_balance_gains(rgb, background)
        lin *= 1 + (gains - 1) * adj.auto_white_balance
    lin *= 2.0 ** adj.exposure
    t, g = adj.temperature / 100.0, adj.tint / 100.0
    lin *= np.array([1 + 0.15 * t + 0.05 * g, 1 - 0.10 * g, 1 - 0.15 * t + 0.05 * g], np.float32)
    if not (adj.saturation or adj.contrast):
        return _srgb_u8(lin)
    out = linear_to_srgb(lin)
    if adj.saturation:
        grey = out @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        out = grey[..., None] + (out - grey[..., None]) * (1 + adj.saturation / 100.0)
    if adj.contrast:
        out = 0.5 + (out - 0.5) * (1 + adj.contrast / 100.0)
    return np.clip(np.clip(out, 0, 1) * 255 + 0.5, 0, 255).astype(np.uint8)


def correct(rgb: np.ndarray, adj: Adjustments, product: np.ndarray, original: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """The full colour step. `product` is the product's sure interior (bool), `original`
    the original product pixels laid out like `rgb` (for matching and ΔE)."""
    out = apply_adjustments(rgb, adj, ~product)
    report: dict = {"adjustments": adj.as_dict()}
    if original is not None and product.any():
        sample = _sample(product)  # one sample for fitting and both measurements
        report["delta_e_before"] = delta_e(out, original, product, sample)
        # already the original's colours (a pasted product, no adjustments): nothing to fit
        report["matched"] = bool(adj.match_product and report["delta_e_before"]["p95"] > MATCHED_P95)
        if report["matched"]:
            out = match_product(out, original, product, sample)
        report["delta_e_after"] = delta_e(out, original, product, sample)
    return out, report
