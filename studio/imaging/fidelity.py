"""Product fidelity: is the product in a generated shot still the seller's product?

Compares the product region of a variant with the original cut-out placed where the
generator was asked to put it, in four independent terms, each mapped to [0, 1]
so that a just-tolerable deviation maps to the threshold:

- placement: silhouette IoU between where the product should be and where it was
  found (template search over translation and scale, then ECC affine refinement);
  catches a moved, rescaled or tilted product;
- shape: area that looks like the product (by colour, against the backdrop just
  beyond) outside the found outline, or like the backdrop inside it, beyond a thin
  band; catches extra parts grown onto the product and bends;
- colour: ΔE2000 between original and variant inside the (aligned) product,
  mean and 95th percentile; catches colour casts and a recoloured logo;
- structure: SSIM of luminance and of edge maps inside the product; catches a
  blurred or redrawn label;
- embedding (only with a CLIP model): cosine similarity of the masked crops.

The score is the product of the terms, so any one failing term fails the variant and
the score falls as any distortion grows. Pure numpy/OpenCV/scikit-image: no weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from studio.imaging import masks
from studio.imaging.clusters import nearest_distance

THRESHOLD = 0.75
WORK_SIDE = 320  # the product's long side while scoring: enough for labels, cheap to compare
# deviation of each raw measure that is "just tolerable" (maps to THRESHOLD)
TOLERANCE = {
    "placement": 0.06,   # 1 - IoU
    "shape": 0.04,       # area gained or lost beyond the outline's tolerance band / product area
    "color_mean": 3.0,   # ΔE2000
    "color_p95": 10.0,   # ΔE2000
    "color_local": 12.0,  # ΔE2000, mean over the worst neighbourhood (a tenth of the product)
    "luma": 0.15,        # 1 - SSIM
    "edges": 0.30,       # 1 - SSIM
    "embedding": 0.08,   # 1 - cosine
}
SCALES = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6)

# image crop (H×W×3 uint8, product on neutral grey) -> embedding vector
Embedder = Callable[[list[np.ndarray]], np.ndarray]


@dataclass
class FidelityReport:
    score: float
    passed: bool
    threshold: float
    terms: dict[str, float]  # term -> [0, 1]
    measures: dict[str, float]  # the raw figures behind the terms
    weakest: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"score": round(self.score, 4), "passed": self.passed, "threshold": self.threshold,
                "terms": {k: round(v, 4) for k, v in self.terms.items()},
                "measures": {k: round(v, 4) for k, v in self.measures.items()}, "weakest": self.weakest,
                "notes": self.notes}

    def reason(self) -> str:
        if self.passed:
            return f"fidelity {self.score:.2f} ≥ {self.threshold:.2f}"
        return f"fidelity {self.score:.2f} < {self.threshold:.2f}: {_WHY[self.weakest]}"


_WHY = {"placement": "the product moved or changed size", "shape": "the product's outline changed (warp or extra parts)",
        "color": "the product's colours changed", "structure": "the product's details (text, logo, edges) changed",
        "embedding": "the product looks different (embedding)"}


def _term(deviation: float, tolerable: float, threshold: float) -> float:
    return float(np.clip(1.0 - (1.0 - threshold) * max(0.0, deviation) / tolerable, 0.0, 1.0))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _region(alpha: np.ndarray, margin: float = 0.45) -> tuple[int, int, int, int]:
    solid = masks.region(alpha > 0.5, 0)
    if solid is None:
        raise ValueError("the placed product is empty")
    rows, cols = solid
    y0, y1, x0, x1 = int(rows.start), int(rows.stop), int(cols.start), int(cols.stop)
    m = int(max(y1 - y0, x1 - x0) * margin)
    h, w = alpha.shape
    return max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m)


def _coarse(variant: np.ndarray, product: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Translation and scale of the product in the variant: masked template search.
    A smaller template fits anywhere inside a plain-coloured product just as well, so
    among near-equal fits the scale closest to 1 wins."""
    fits = []
    vh, vw = variant.shape[:2]
    for s in SCALES:
        tw, th = max(4, round(product.shape[1] * s)), max(4, round(product.shape[0] * s))
        if tw >= vw or th >= vh:
            continue
        t = cv2.resize(product, (tw, th), interpolation=cv2.INTER_AREA)
        m = (cv2.resize(mask, (tw, th), interpolation=cv2.INTER_AREA) > 0.5).astype(np.float32)
        res = cv2.matchTemplate(variant, t, cv2.TM_SQDIFF, mask=np.repeat(m[..., None], 3, axis=2))
        res = res / max(1.0, float(m.sum()))
        _, _, loc, _ = cv2.minMaxLoc(res)
        fits.append((float(res[loc[1], loc[0]]), s, loc))
    if not fits:
        return None
    best = min(f[0] for f in fits)
    err, s, loc = min((f for f in fits if f[0] <= best * 1.2 + 40.0), key=lambda f: abs(np.log(f[1])))
    return np.array([[s, 0, loc[0]], [0, s, loc[1]]], np.float32)


def _rescaled(warp: np.ndarray, k: float) -> np.ndarray:
    """The same warp for images k times larger."""
    out = warp.copy()
    out[:, 2] *= k
    return out


def _shrink(img: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return img
    return cv2.resize(img, (max(4, img.shape[1] // k), max(4, img.shape[0] // k)), interpolation=cv2.INTER_AREA)


def _align(tmpl: np.ndarray, tmpl_mask: np.ndarray, variant: np.ndarray, box: tuple[int, int, int, int],
           rim: int = 0) -> np.ndarray:
    """Affine warp taking template-frame coordinates to variant coordinates: a coarse
    search on a smaller copy, refined by ECC on a larger one (each shrunk only while
    the product stays big enough to show its outline)."""
    y0, y1, x0, x1 = box
    size = max(y1 - y0, x1 - x0)
    fine = 2 if size >= 192 else 1
    coarse = fine * 2 if size >= 96 * fine else fine
    # the rim is where generators blend the product into the scene: match on the body
    body = cv2.erode((tmpl_mask > 0.5).astype(np.uint8), _disk(max(1, size // 12, rim))).astype(np.float32)
    t_c, m_c, v_c = _shrink(tmpl, coarse), _shrink(body, coarse), _shrink(variant, coarse)
    cy0, cy1, cx0, cx1 = y0 // coarse, y1 // coarse + 1, x0 // coarse, x1 // coarse + 1
    warp = _coarse(v_c.astype(np.float32), t_c[cy0:cy1, cx0:cx1].astype(np.float32), m_c[cy0:cy1, cx0:cx1])
    if warp is None:
        return np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    # the search ran on the product's own box; express it in the whole frame
    warp[:, 2] -= warp[:, :2] @ np.array([cx0, cy0], np.float32)
    warp = _rescaled(warp, coarse / fine)
    t_f, m_f, v_f = _shrink(tmpl, fine), _shrink(tmpl_mask, fine), _shrink(variant, fine)
    g_t = cv2.cvtColor(t_f, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g_v = cv2.cvtColor(v_f, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mask = cv2.dilate((m_f > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8))
    try:
        _, refined = cv2.findTransformECC(g_t, g_v, warp.copy(), cv2.MOTION_AFFINE,
                                          (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 1e-4), mask, 3)
    except cv2.error:  # did not converge: the coarse fit stands
        refined = warp
    # refinement is trusted only near the coarse fit
    if np.abs(refined[:, :2] - warp[:, :2]).max() > 0.15 or np.abs(refined[:, 2] - warp[:, 2]).max() > 0.1 * size:
        refined = warp
    # where the generator was asked to put the product is a candidate too: on a plain
    # product the search can slide a few pixels and then blame the product's edges
    identity = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    body_f = _shrink(body, fine) > 0.5
    if _residual(g_t, g_v, identity, body_f) <= _residual(g_t, g_v, refined, body_f):
        return identity
    return _rescaled(refined, fine)


def _residual(g_t: np.ndarray, g_v: np.ndarray, warp: np.ndarray, mask: np.ndarray) -> float:
    """Mean grey-level difference over `mask` between the template and the variant
    seen through `warp`."""
    back = cv2.warpAffine(g_v, warp, g_t.shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return float(np.abs(back - g_t)[mask].mean()) if mask.any() else float("inf")


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _centres(lab: np.ndarray, k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """k-means colour centres and the share of pixels each holds."""
    pts = lab.reshape(-1, 3).astype(np.float32)
    if len(pts) > 4000:
        pts = pts[np.random.default_rng(0).choice(len(pts), 4000, replace=False)]
    k = max(1, min(k, len(pts)))
    _, labels, centres = cv2.kmeans(pts, k, None, (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5), 2,
                                    cv2.KMEANS_PP_CENTERS)
    return centres, np.bincount(labels.ravel(), minlength=k) / len(pts)


def _silhouette(variant: np.ndarray, found: np.ndarray, rim: int) -> np.ndarray:
    """Where the product is in the variant, judged by colour around where it was found:
    near pixels that look like the product rather than the backdrop beyond are a grown
    part; pixels inside that look like the backdrop are a lost or bent part."""
    k = 2 if np.sqrt(found.sum()) >= 160 else 1
    v = _shrink(variant, k)
    f = _shrink(found.astype(np.uint8) * 255, k) > 127
    r = max(1, rim // k)
    size = max(1, int(np.sqrt(f.sum())))
    f8 = f.astype(np.uint8)
    core = cv2.erode(f8, _disk(r)) > 0
    # two wide dilations as one distance map: how far each pixel is from the product
    dist = cv2.distanceTransform(1 - f8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    reach = dist <= max(3, size // 2)
    near = reach & ~f
    far = (dist <= max(4, size * 3 // 4)) & ~reach
    if not core.any() or not far.any():
        return found
    lab = cv2.cvtColor(v, cv2.COLOR_RGB2LAB).astype(np.float32)
    fg, _ = _centres(lab[core])
    bg, share = _centres(lab[far])
    # a minor backdrop colour that matches the product is a grown part reaching this far
    strays = (nearest_distance(bg, fg) < 10) & (share < 0.25)
    bg = bg[~strays] if (~strays).any() else bg
    d_fg, d_bg = nearest_distance(lab, fg), nearest_distance(lab, bg)
    productish = (d_fg + 6 < d_bg) & (d_fg < 18)
    backdropish = (d_bg + 6 < d_fg) & (d_bg < 18)
    extra = cv2.morphologyEx((near & productish).astype(np.uint8), cv2.MORPH_OPEN, _disk(1)) > 0
    # only what is joined to the product counts: look-alike specks of backdrop are not parts
    _, labels = cv2.connectedComponents((extra | f).astype(np.uint8), connectivity=8)
    ids = np.unique(labels[f])
    attached = np.isin(labels, ids[ids > 0])
    lost = cv2.morphologyEx((core & backdropish).astype(np.uint8), cv2.MORPH_OPEN, _disk(1)) > 0
    sil = ((f & ~lost) | (extra & attached)).astype(np.uint8) * 255
    return cv2.resize(sil, (found.shape[1], found.shape[0]), interpolation=cv2.INTER_LINEAR) > 127


def _one_pixel(mask: np.ndarray) -> float:
    """1 - IoU of a mask with itself shifted by one pixel (about perimeter / area)."""
    m8 = mask.astype(np.uint8)
    return float(((cv2.dilate(m8, _disk(1)) > 0) & ~mask).sum() / max(1, mask.sum()))


def _outline_error(found: np.ndarray, sil: np.ndarray, rim: int = 0) -> float:
    """Area the segmentation adds or removes beyond a thin band around the expected
    outline, as a fraction of the product: soft edges and fringes fall in the band,
    grown parts and bends do not."""
    r = max(2, rim, int(np.sqrt(found.sum()) * 0.025))
    f8 = found.astype(np.uint8)
    outer = cv2.dilate(f8, _disk(r)) > 0
    inner = cv2.erode(f8, _disk(r)) > 0
    return float(((sil & ~outer).sum() + (inner & ~sil).sum()) / max(1, found.sum()))


def _edges(gray: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def _masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray, data_range: float) -> float:
    from skimage.metrics import structural_similarity  # scikit-image loads slowly: when needed

    _, smap = structural_similarity(a, b, data_range=data_range, full=True, win_size=7)
    return float(smap[mask].mean()) if mask.any() else 1.0


def _on_grey(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full_like(rgb, 128)
    out[mask] = rgb[mask]
    ys, xs = np.nonzero(mask)
    return out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(ys) else out


def fidelity(variant: np.ndarray, placed: np.ndarray, embed: Embedder | None = None,
             threshold: float = THRESHOLD, rim_px: int = 5) -> FidelityReport:
    """Score `variant` (H×W×3 uint8) against `placed` (H×W×4 float in [0, 1]: the
    original cut-out where the generator was asked to put it, on the variant's canvas).
    Colours and details are compared `rim_px` (canvas pixels) inside the outline: the
    rim is where the generator was allowed to blend the product into the scene."""
    if variant.shape[:2] != placed.shape[:2]:
        raise ValueError(f"variant is {variant.shape[1]}×{variant.shape[0]} but the placement is "
                         f"{placed.shape[1]}×{placed.shape[0]}")
    y0, y1, x0, x1 = _region(placed[..., 3])
    py0, py1, px0, px1 = _region(placed[..., 3], margin=0.0)
    f = min(1.0, WORK_SIDE / max(py1 - py0, px1 - px0))
    size = (max(8, round((x1 - x0) * f)), max(8, round((y1 - y0) * f)))
    var = cv2.resize(variant[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    # resized first, rounded after: the template is small, the product's region is not
    small = cv2.resize(np.asarray(placed[y0:y1, x0:x1], np.float32), size, interpolation=cv2.INTER_AREA)
    tmpl = np.clip(small[..., :3] * 255 + 0.5, 0, 255).astype(np.uint8)
    alpha = np.ascontiguousarray(small[..., 3])
    expected = alpha > 0.5
    pb = _region(alpha, margin=0.0)

    rim = max(2, int(np.ceil(rim_px * f)) + 1)  # in working pixels
    warp = _align(tmpl, alpha, var, pb, rim)
    found = cv2.warpAffine(alpha, warp, size, flags=cv2.INTER_LINEAR) > 0.5
    sil = _silhouette(var, found, rim)
    # the variant seen in the template's frame, so colours and details compare pixel to pixel
    back = cv2.warpAffine(var, warp, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    inner = cv2.erode(expected.astype(np.uint8), _disk(rim)) > 0
    if not inner.any():
        inner = expected

    de_map = np.zeros(inner.shape, np.float32)
    from skimage.color import deltaE_ciede2000, rgb2lab

    de_map[inner] = deltaE_ciede2000(rgb2lab(tmpl[inner]), rgb2lab(back[inner]))
    de = de_map[inner]
    # a recoloured logo is a small patch: the worst neighbourhood, not the average, finds it
    win = max(3, int(np.sqrt(inner.sum())) // 10)
    local_de = cv2.boxFilter(de_map, -1, (win, win), normalize=True) / np.maximum(
        cv2.boxFilter(inner.astype(np.float32), -1, (win, win), normalize=True), 1e-3)
    g_t = cv2.cvtColor(tmpl, cv2.COLOR_RGB2GRAY).astype(np.float32)
    # outside the compared area both sides show the original, so SSIM windows that reach
    # over the edge see only differences from inside it
    g_b = np.where(inner, cv2.cvtColor(back, cv2.COLOR_RGB2GRAY).astype(np.float32), g_t)
    e_t, e_b = _edges(g_t), _edges(g_b)
    # details (text, logos, seams) are where the original has edges; flat areas would dilute them
    detail = inner & (cv2.dilate((e_t > 0.25 * max(float(np.percentile(e_t[inner], 99)), 1.0)).astype(np.uint8),
                                 _disk(2)) > 0)
    if detail.sum() < 0.02 * inner.sum():
        detail = inner
    measures = {
        "placement_iou": _iou(expected, found),
        "shape_error": _outline_error(found, sil, rim),
        "delta_e_mean": float(de.mean()),
        "delta_e_p95": float(np.percentile(de, 95)),
        "delta_e_local": float(local_de[inner].max()),
        "ssim_luma": _masked_ssim(g_t, g_b, inner, 255.0),
        "ssim_edges": _masked_ssim(e_t, e_b, detail, float(max(e_t.max(), e_b.max(), 1.0))),
        "scale": float(np.sqrt(abs(np.linalg.det(warp[:, :2])))),
        "shift_px": float(np.hypot(*warp[:, 2]) / f),
    }
    T = TOLERANCE
    terms = {
        # a pixel of misregistration is rounding, not a moved product; it matters only on small images
        "placement": _term(1 - measures["placement_iou"] - _one_pixel(expected), T["placement"], threshold),
        "shape": _term(measures["shape_error"], T["shape"], threshold),
        "color": min(_term(measures["delta_e_mean"], T["color_mean"], threshold),
                     _term(measures["delta_e_p95"], T["color_p95"], threshold),
                     _term(measures["delta_e_local"], T["color_local"], threshold)),
        "structure": min(_term(1 - measures["ssim_luma"], T["luma"], threshold),
                         _term(1 - measures["ssim_edges"], T["edges"], threshold)),
    }
    notes = []
    if embed is not None:
        vecs = np.asarray(embed([_on_grey(tmpl, inner), _on_grey(back, inner)]), np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-8
        measures["embedding_cos"] = float(vecs[0] @ vecs[1])
        terms["embedding"] = _term(1 - measures["embedding_cos"], T["embedding"], threshold)
    else:
        notes.append("no CLIP model installed: the embedding term is left out")
    score = float(np.prod(list(terms.values())))
    return FidelityReport(score=score, passed=score >= threshold, threshold=threshold, terms=terms,
                          measures=measures, weakest=min(terms, key=terms.get), notes=notes)
