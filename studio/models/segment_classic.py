"""Classical cut-out, no weights: for products on plainish backgrounds (table, sheet,
wall, paper).

1. At a working resolution (≤ 512 px), model the background from the image border:
   a smooth quadratic colour surface (gradients, light falloff) and a few k-means
   colour clusters (patterns).
2. Saliency = distance from that background model (chroma weighted above lightness,
   so soft shadows count less), plus regions enclosed by strong edges (white on white),
   with a mild centre prior.
3. Seed OpenCV GrabCut with it (border = background, strong saliency = foreground).
4. Clean up (main components, enclosed holes that do not look like background).
5. Take out cast shadows: regions darker than the background behind them by the same
   factor in every channel, with a soft edge against the lit background; a small
   enclosed hole as dark as the shadow (a mug's handle) goes with them.
6. Upscale, and snap the edge to the photo with a guided filter at full size.

Floorboard seams close regions too; those reaching across the photo are not products.
OpenCV's random generator is seeded: the same photo gives the same cut-out.

Confidence is an estimate of the cut-out's quality (`classic_confidence`): above all,
whether its outline runs along edges in the photo.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from studio.imaging import masks
from studio.imaging.clusters import nearest_distance
from studio.imaging.compose import rgb_array
from studio.models import classic_confidence
from studio.models.base import Segmentation

WORK_SIDE = 512
GRABCUT_ITERATIONS = 3  # 4 gains 0.01 mean IoU on the broad corpus only, for a third more time
LARGE_WINDOW = 100_000  # pixels of GrabCut window above which one round is run (same home-set IoU)


def _design(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=-1)


class ClassicSegmenter:
    name = "classic"
    weights = None  # nothing to install

    def segment(self, image: Image.Image) -> Segmentation:
        rgb = rgb_array(image)
        H, W = rgb.shape[:2]
        scale = min(1.0, WORK_SIDE / max(H, W))
        small = cv2.resize(rgb, (max(8, round(W * scale)), max(8, round(H * scale))), interpolation=cv2.INTER_AREA)
        fg_small, seed, bg_dist = self._segment_small(small)
        alpha_small = fg_small.astype(np.float32)
        alpha = cv2.resize(alpha_small, (W, H), interpolation=cv2.INTER_LINEAR) if scale < 1 else alpha_small
        alpha = masks.drop_specks(masks.refine_edges(rgb, alpha))
        confidence, notes = classic_confidence.confidence(classic_confidence.features(small, fg_small, seed, bg_dist))
        return Segmentation(alpha=alpha, confidence=confidence, backend=self.name, notes=notes)

    # -- the work at working resolution ------------------------------------
    def _segment_small(self, rgb: np.ndarray):
        cv2.setRNGSeed(0)  # k-means and GrabCut draw from OpenCV's generator: same photo, same cut-out
        h, w = rgb.shape[:2]
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
        lab[..., 0] *= 0.5  # lightness counts half: shadows and shading are not product
        band = max(3, round(0.03 * min(h, w)))
        border = np.zeros((h, w), bool)
        border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
        # a product the photo cuts off crosses the border: it is neither background to
        # model nor background to force
        crossing = self._crossing(lab, band)
        border &= ~crossing

        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xs, ys = xs / w - 0.5, ys / h - 0.5
        design = _design(xs, ys)
        bpix = lab[border]
        coef, *_ = np.linalg.lstsq(design[border], bpix, rcond=None)
        d_poly = np.linalg.norm(lab - design @ coef, axis=-1)

        k = 4
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
        sample = bpix[:: max(1, len(bpix) // 4000)].astype(np.float32)
        _, _, centers = cv2.kmeans(sample, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
        d_km = nearest_distance(lab, centers)
        # Patterns: blur the distance a little so texture of the background averages out.
        bg_dist = cv2.GaussianBlur(np.minimum(d_poly, d_km), (0, 0), 1.0)
        noise = float(np.percentile(bg_dist[border], 95)) + 2.0
        colour_score = np.clip(bg_dist / (3.0 * noise), 0, 1)

        # Regions closed by strong edges: lets a white product on white paper show up.
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        grey = cv2.GaussianBlur(grey, (0, 0), 1.0)
        gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
        # Edges must beat the background's own texture (a checked cloth has edges too).
        hi = max(30.0, 1.5 * float(np.percentile(np.abs(gx[border]) + np.abs(gy[border]), 99)))
        edges = cv2.Canny(grey, hi / 3, hi)
        edges[border] = 0
        closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
        filled = self._drop_spanning(masks.fill_holes(closed.astype(np.float32) / 255.0) > 0.5, band)
        filled = masks.keep_main_components(filled.astype(np.float32), 0.2) > 0.5
        edge_score = filled.astype(np.float32) * 0.6

        centre = np.exp(-((xs / 0.6) ** 2 + (ys / 0.6) ** 2))
        score = np.maximum(colour_score, edge_score) * (0.7 + 0.3 * centre)
        # Shadows have soft edges: a region closed by strong edges is not one.
        shaded = self._shadow_like(rgb, design, border)
        shadow = shaded & ~filled

        t = 0.33
        raw = (score > t) & ~shadow
        # A closed ring of difference (a white product's rim) encloses product: let
        # GrabCut judge its inside instead of starting it as background.
        seed = masks.fill_holes(raw.astype(np.float32)) > 0.5
        gc = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
        gc[seed] = cv2.GC_PR_FGD
        sure = cv2.erode(((score > 0.75) & ~shadow).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        gc[sure] = cv2.GC_FGD
        gc[border] = cv2.GC_BGD
        gc[crossing & (score > t)] = cv2.GC_PR_FGD
        if seed.sum() < 20:  # nothing stands out: say so rather than invent a product
            return np.zeros((h, w), np.float32), seed, bg_dist
        gc = self._grabcut(rgb, gc)
        fg = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        fg = masks.keep_main_components(fg)
        fg = self._fill_product_holes(fg, bg_dist, noise)
        fg = masks.keep_main_components(self._drop_unsupported(rgb, fg, filled))
        # after the holes are filled: a hole the shadow falls through is opened again here
        fg = masks.keep_main_components(self._drop_cast_shadows(rgb, fg))
        fg = self._keep_supported(rgb, fg, bg_dist < 1.5 * noise, shaded, edges)
        return fg, seed, bg_dist

    @staticmethod
    def _keep_supported(rgb: np.ndarray, fg: np.ndarray, bg_colour: np.ndarray, shaded: np.ndarray,
                        edges: np.ndarray) -> np.ndarray:
        """Keep only what the photo's evidence says is product (issue 40). The cut-out is
        split into regions by the photo's strong edges; a region the colour of the
        background goes when it meets the background along an outline with no edge in the
        photo (a slab of paper grown out of the product, the floor between a stool's legs)
        or when the product closes it all round and it is the background seen through (a
        stool's frame, a handle's hole: however large). Then a piece apart from the main
        one stays only when its outline runs along edges and its colour is not the
        background's (a lid beside its jar), not a slab or a speck."""
        f = fg > 0.5
        if f.sum() < 50:
            return fg
        k3 = np.ones((3, 3), np.uint8)
        grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
        grad = cv2.dilate(np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)), k3)
        outside = ~f
        near_out = cv2.dilate(outside.astype(np.uint8), k3) > 0
        ring = (cv2.dilate(f.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0) & ~(
            cv2.dilate(f.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)
        texture = float(np.percentile(grad[ring], 90)) if ring.any() else 0.0
        on_edge = grad > max(12.0, 1.5 * texture)
        walls = cv2.dilate(edges, k3) > 0
        inner = f & ~walls
        n, labels = cv2.connectedComponents(inner.astype(np.uint8), connectivity=4)
        if n <= 1:
            return fg
        flat = labels.ravel()
        area = np.bincount(flat, minlength=n)
        plain_bg = np.bincount(flat, weights=bg_colour.ravel(), minlength=n)
        # the background or the background in shadow (darker by one factor in every channel)
        like_bg = np.bincount(flat, weights=(bg_colour | shaded).ravel(), minlength=n)
        contact = inner & near_out  # where a region meets the background directly (no edge between)
        bare = np.bincount(flat, weights=(contact & ~on_edge).ravel(), minlength=n)
        touches = np.bincount(flat, weights=contact.ravel(), minlength=n)
        # what is seen through a hole has the background's texture: compared at the pixel scale
        detail = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 2.0))
        bg_detail = float(np.median(detail[ring])) if ring.any() else 0.0
        region_detail = np.bincount(flat, weights=detail.ravel(), minlength=n) / np.maximum(area, 1)
        min_area = max(12, 0.002 * f.sum())
        drop = np.zeros(n, bool)
        shadowed_hole = np.zeros(n, bool)  # closed, seen-through, but in shadow: goes with a hole beside it
        slab = np.zeros(n, bool)
        product = inner & ~bg_colour
        k21, k9 = np.ones((21, 21), np.uint8), np.ones((9, 9), np.uint8)

        def product_round(i: int) -> bool:
            """What lies across the region's edges is product (a stool's wood round its frame),
            not the background itself (a glass, a white product on white paper)."""
            ys, xs = np.nonzero(labels == i)
            win = (slice(max(0, ys.min() - 12), ys.max() + 13), slice(max(0, xs.min() - 12), xs.max() + 13))
            c8 = (labels[win] == i).astype(np.uint8)
            beyond = (cv2.dilate(c8, k21) > 0) & ~(cv2.dilate(c8, k9) > 0) & ~walls[win]
            return bool(beyond.any()) and float(product[win][beyond].mean()) > 0.6
        for i in range(1, n):
            if area[i] < min_area or like_bg[i] < 0.85 * area[i]:
                continue
            if touches[i] == 0:  # closed all round by edges: a hole, if product lies all round it
                same_texture = bg_detail <= 0.6 or 0.6 * bg_detail < region_detail[i] < 1.8 * bg_detail
                hole = same_texture and area[i] < 0.8 * f.sum() and product_round(i)
                drop[i] = hole and plain_bg[i] > 0.3 * area[i]
                shadowed_hole[i] = hole and not drop[i]
            elif (bare[i] >= max(6, 0.5 * touches[i]) and plain_bg[i] >= 0.85 * area[i]
                  and area[i] < 0.5 * f.sum()):  # (most of the cut-out: a glass, not a slab beside it)
                # runs into the background without an edge, in the background's own colour (a
                # grey product's side that meets its shadow without an edge is not taken for one)
                drop[i] = slab[i] = True
        if area[slab].sum() > 2.0 * product.sum():
            # far more of the cut-out looks like the background than not (a glass, a product in
            # the background's colours): these are no slabs beside it, GrabCut's call stands
            drop &= ~slab
        if shadowed_hole.any() and drop.any():  # the shadow of a leg falling through a stool's frame
            beside = np.unique(labels[cv2.dilate(drop[labels].astype(np.uint8), np.ones((7, 7), np.uint8)) > 0])
            drop[beside[shadowed_hole[beside]]] = True
        # a pale band across the product (a white label round a bottle, on white paper) looks
        # like a hole or a slab, but without it the product falls apart: it stays (a hole or
        # a slab never holds the product together)
        if drop.any():
            def parts(mask: np.ndarray) -> int:
                m, _, st, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
                a = st[1:, cv2.CC_STAT_AREA]
                return int((a >= 0.05 * a.max()).sum()) if m > 1 else 0

            whole = parts(f)
            k5 = np.ones((5, 5), np.uint8)
            for i in np.flatnonzero(drop):
                if parts(f & ~(cv2.dilate((labels == i).astype(np.uint8), k5) > 0)) > whole:
                    drop[i] = False
        if not drop.any():
            out = f
        else:
            gone = drop[labels]
            # with the edge band between it and the product, where that band has no product beyond it
            band = walls & f & (cv2.dilate(gone.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
            kept_inner = inner & ~gone
            band &= ~(cv2.dilate(kept_inner.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
            out = f & ~gone & ~band
            out = cv2.morphologyEx(out.astype(np.uint8), cv2.MORPH_OPEN, k3) > 0
        return ClassicSegmenter._supported_pieces(out, bg_colour, on_edge)

    @staticmethod
    def _supported_pieces(f: np.ndarray, like_bg: np.ndarray, on_edge: np.ndarray) -> np.ndarray:
        """The main piece, and each other piece whose outline runs along the photo's edges
        and whose colour stands out from the background: a separate part, not a slab."""
        n, labels, stats, _ = cv2.connectedComponentsWithStats(f.astype(np.uint8), connectivity=8)
        if n <= 2:
            return f.astype(np.float32)
        areas = stats[1:, cv2.CC_STAT_AREA]
        main = int(np.argmax(areas)) + 1
        keep = [main]
        outline = f & ~(cv2.erode(f.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        for i in range(1, n):
            if i == main or areas[i - 1] < 0.02 * areas.max():
                continue
            x, y, w, h = stats[i, :4]
            win = (slice(y, y + h), slice(x, x + w))
            piece = labels[win] == i
            line = piece & outline[win]
            supported = float(on_edge[win][line].mean()) if line.any() else 0.0
            stands_out = float(like_bg[win][piece].mean()) < 0.5
            # (outlined by edges all round, even in the background's colour: a glass's part)
            if (supported >= 0.6 and stands_out) or supported >= 0.85:
                keep.append(i)
        return np.isin(labels, keep).astype(np.float32)

    @staticmethod
    def _crossing(lab: np.ndarray, band: int) -> np.ndarray:
        """The stretches of the photo's edge band where something unlike the rest of the
        border runs into the frame: a product cut by the photo's edge. Each side is judged
        against a palette of the other three, so a table's edge (on three sides) or a
        pattern (everywhere) is not a product."""
        h, w = lab.shape[:2]
        sides = {  # (positions along the side, band pixels) for each side
            "top": lab[:band].mean(axis=0), "bottom": lab[-band:].mean(axis=0),
            "left": lab[:, :band].mean(axis=1), "right": lab[:, -band:].mean(axis=1),
        }
        crossing = np.zeros((h, w), bool)
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
        for name, strip in sides.items():
            others = np.concatenate([v for k, v in sides.items() if k != name]).astype(np.float32)
            _, _, palette = cv2.kmeans(others, 4, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
            spread = float(np.percentile(nearest_distance(others, palette), 90))
            far = nearest_distance(strip.astype(np.float32), palette) > max(12.0, 3.0 * spread)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(far.astype(np.uint8)[None], connectivity=4)
            runs = np.zeros(len(strip), bool)
            for i in range(1, n):
                if stats[i, cv2.CC_STAT_WIDTH] >= 0.03 * len(strip):
                    runs |= labels[0] == i
            if not runs.any() or runs.mean() > 0.6:  # most of a side unlike the rest: a backdrop, not a product
                continue
            if name == "top":
                crossing[:band, runs] = True
            elif name == "bottom":
                crossing[-band:, runs] = True
            elif name == "left":
                crossing[runs, :band] = True
            else:
                crossing[runs, -band:] = True
        return crossing

    @staticmethod
    def _grabcut(rgb: np.ndarray, gc: np.ndarray) -> np.ndarray:
        """GrabCut in a window round the seeds (a product is often a tenth of the photo,
        and GrabCut's cost grows with the pixels it labels); on the whole photo again
        when the product reaches the window's inner edge."""
        def run(pixels: np.ndarray, labels: np.ndarray) -> np.ndarray:
            labels = np.array(labels)  # a contiguous copy: grabCut writes its labels into it
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            # a large window (a product filling much of the photo) gets one round: its seeds
            # are large and sure, and each round costs a tenth of a second there
            rounds = GRABCUT_ITERATIONS if labels.size <= LARGE_WINDOW else 1
            cv2.grabCut(np.ascontiguousarray(pixels), labels, None, bgd, fgd, rounds, cv2.GC_INIT_WITH_MASK)
            return labels

        h, w = gc.shape
        win = masks.region(np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)), max(16, round(0.12 * max(h, w))))
        if win is not None:
            sub = run(rgb[win], gc[win])
            fg = np.isin(sub, (cv2.GC_FGD, cv2.GC_PR_FGD))
            ys, xs = win
            inner_edges = [fg[0] if ys.start > 0 else None, fg[-1] if ys.stop < h else None,
                           fg[:, 0] if xs.start > 0 else None, fg[:, -1] if xs.stop < w else None]
            if not any(e is not None and e.any() for e in inner_edges):
                out = gc.copy()
                out[win] = sub
                return out
        return run(rgb, gc)

    @staticmethod
    def _shadow_like(rgb: np.ndarray, design: np.ndarray, border: np.ndarray) -> np.ndarray:
        """Pixels that are the predicted background, uniformly darkened: cast shadows."""
        f = rgb.astype(np.float32) + 1.0
        coef, *_ = np.linalg.lstsq(design[border], f[border], rcond=None)
        bg = np.maximum(design @ coef, 1.0)
        ratio = f / bg
        mean = ratio.mean(axis=-1)
        spread = ratio.std(axis=-1) / np.maximum(mean, 1e-3)
        spread = cv2.GaussianBlur(spread, (0, 0), 1.5)
        return (mean > 0.3) & (mean < 0.93) & (spread < 0.04)

    @staticmethod
    def _drop_spanning(region: np.ndarray, band: int) -> np.ndarray:
        """Without the parts that reach across the photo, side to side or top to bottom:
        floorboards and the seams between them enclose such areas, products do not."""
        n, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
        h, w = region.shape
        out = region.copy()
        reach = band + 2
        for i in range(1, n):
            x, y, bw, bh = stats[i, :4]
            if (x <= reach and x + bw >= w - reach) or (y <= reach and y + bh >= h - reach):
                out[labels == i] = False
        return out

    @staticmethod
    def _background_behind(rgb: np.ndarray, fg: np.ndarray) -> np.ndarray:
        """The background as it would be without the foreground: the colours around it
        spread inwards (normalised convolution at growing widths, first along the rows:
        a wall over a table changes from row to row, not along one), float RGB. Wide
        blurs are done on a shrunken grid (they keep no detail finer than it anyway)."""
        h, w = fg.shape
        known = (cv2.dilate(fg.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0).astype(np.float32)
        img = rgb.astype(np.float32)
        stack = np.dstack([img * known[..., None], known])

        def spread(sx: float, sy: float, fx: int, fy: int) -> tuple[np.ndarray, np.ndarray]:
            small = cv2.resize(stack, (max(1, w // fx), max(1, h // fy)), interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), sigmaX=max(0.5, sx / fx), sigmaY=max(0.5, sy / fy))
            big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            return big[..., :3], big[..., 3]

        out = np.zeros_like(img)
        done = np.zeros((h, w), bool)
        side = max(h, w)
        passes = [(0.15 * side, 1.0, 8, 1, 0.02), (0.5 * side, 2.0, 8, 1, 0.02)]
        sigma = max(4.0, 0.04 * side)
        while sigma < 2 * side:
            passes.append((sigma, sigma, 4, 4, 0.05))
            sigma *= 2
        for sx, sy, fx, fy, enough in passes:
            if done.all():
                break
            colour, weight = spread(sx, sy, fx, fy)
            ok = (weight > enough) & ~done
            out[ok] = colour[ok] / weight[ok, None]
            done |= ok
        out[~done] = img[known > 0].mean(axis=0) if known.any() else img.mean(axis=(0, 1))
        return out

    @classmethod
    def _drop_cast_shadows(cls, rgb: np.ndarray, fg: np.ndarray) -> np.ndarray:
        """Take out of the foreground what is the background in shadow: regions darker
        than the background behind them by the same factor in every channel, whose edge
        against the lit background is soft (a product's edge is sharp)."""
        f = fg > 0.5
        if f.sum() < 50:
            return fg
        bg = cls._background_behind(rgb, f)
        ratio = (rgb.astype(np.float32) + 4.0) / (bg + 4.0)
        level = ratio.mean(axis=-1)
        tint = ratio.std(axis=-1) / np.maximum(level, 1e-3)
        # darker than the background behind (or as light: GrabCut sometimes takes some lit
        # background along), by the same factor in every channel
        neutral = (level > 0.3) & (level < 1.06) & (cv2.GaussianBlur(tint, (0, 0), 1.0) < 0.05)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)

        def gradient(sigma: float) -> np.ndarray:
            g = cv2.GaussianBlur(grey, (0, 0), sigma)
            return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))

        fine, coarse = gradient(1.0), gradient(3.0)
        outside = cv2.dilate((~f).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        rim = f & outside  # the foreground's edge against the background
        if not rim.any():
            return fg
        # How soft an edge is, whatever its contrast: blurring more lowers a sharp edge's
        # gradient about threefold (σ 1 → 3) but a soft one's much less (a shadow's
        # penumbra of ~3 px keeps ~70%). Peaks are compared near each pixel.
        k3, k5 = np.ones((3, 3), np.uint8), np.ones((5, 5), np.uint8)
        keep = cv2.dilate(coarse, k5) / np.maximum(cv2.dilate(fine, k5), 1e-3)
        # Sharp edges (the product's own) cut the shaded areas apart: a pale label is not
        # one region with the shadow beside the bottle. Judged by softness, not contrast:
        # a shadow's outer edge can be as strong as a label's, and a product's shaded side
        # can meet its shadow with a small step.
        texture = float(np.percentile(fine[~f], 75)) if (~f).any() else 0.0
        weak = max(12.0, 2.0 * texture)
        sharp = (fine > weak) & (cv2.dilate(coarse, k3) < 0.6 * cv2.dilate(fine, k3))
        shaded = f & neutral & ~(cv2.dilate(sharp.astype(np.uint8), k3) > 0)
        n, labels = cv2.connectedComponents(shaded.astype(np.uint8), connectivity=8)
        if n <= 1:
            return fg
        # where the rim has no edge at all, the background simply goes on: soft
        softness = np.where(fine < weak, 1.0, keep)
        core = level < 0.88
        removed = np.zeros_like(f)
        flat = np.zeros_like(f)  # the shadows' cores, as dark as they get
        shadow_levels, enclosed = [], []
        for i in range(1, n):
            comp = labels == i
            dark = comp & core
            if dark.sum() < 20:
                continue  # lit background, or a speck
            edge = comp & rim
            if edge.sum() < 8:
                enclosed.append(comp)  # not on the outline: a dark part of the product, or a hole
                continue
            around = (cv2.dilate(comp.astype(np.uint8), k3) > 0) & ~comp
            if (around & f).sum() > 0.85 * around.sum():
                # the cut-out all round it (a pale label across a box): a cast shadow lies
                # beside the product and meets the background along much of its outline
                continue
            if np.median(softness[edge]) > 0.58:
                removed |= comp
                deepest = float(np.percentile(level[dark], 10))
                shadow_levels.append(deepest)
                flat |= comp & (level < deepest + 0.12)
        # A small hole (a mug's handle) the shadow falls through is as dark as the shadow's
        # core beside it, give or take the background's own light and shade. The shadow may
        # lie outside the foreground already: then its core is read in a ring round it.
        if enclosed and not shadow_levels:
            near = ~f & (cv2.distanceTransform((~f).astype(np.uint8), cv2.DIST_L2, 3) < 0.05 * max(f.shape))
            outside_shadow = near & neutral & core
            if outside_shadow.sum() >= max(200, 0.05 * f.sum()):
                shadow_levels.append(float(np.percentile(level[outside_shadow], 10)))
        for comp in enclosed:
            hole = float(np.median(level[comp & core]))
            if comp.sum() < 0.1 * f.sum() and any(s - 0.1 < hole < s + 0.08 for s in shadow_levels):
                removed |= comp
                flat |= comp
        if not removed.any():
            return fg
        # Lighter than a shadow's core, in a notch of what is left and nearer to it than to
        # the background: the product's own shaded side running into its shadow without an
        # edge (a pale label on the dark side of a bottle). A shadow lightens outwards.
        product = (f & ~removed).astype(np.uint8)
        notch = cv2.morphologyEx(product, cv2.MORPH_CLOSE, cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * round(0.03 * max(f.shape)) + 1,) * 2)) > 0
        light = removed & ~flat & (level < 0.95) & notch & (
            cv2.distanceTransform(f.astype(np.uint8), cv2.DIST_L2, 3)
            > cv2.distanceTransform(1 - product, cv2.DIST_L2, 3))
        removed &= ~light
        # up to the product's edge: the band the sharp-edge cut left beside the shadow
        grow = f & neutral & ~sharp & ~light
        for _ in range(2):
            removed |= (cv2.dilate(removed.astype(np.uint8), k3) > 0) & grow
        # and the edge itself: each pixel to the side whose colour it has nearby
        band = (cv2.dilate(removed.astype(np.uint8), k5) > 0) & f & ~removed
        img = rgb.astype(np.float32)
        sides = []
        for side in (removed, f & ~removed & ~band):
            w = cv2.GaussianBlur(side.astype(np.float32), (0, 0), 2.0)
            mean = cv2.GaussianBlur(img * side[..., None], (0, 0), 2.0) / np.maximum(w, 1e-3)[..., None]
            sides.append(np.where(w > 1e-3, np.linalg.norm(img - mean, axis=-1), np.inf))
        removed |= band & (sides[0] < sides[1])
        if removed.sum() > 0.5 * f.sum():
            return fg  # most of what stands out: a glass, a grey product, not its shadow
        out = fg.copy()
        out[removed] = 0
        return out

    @classmethod
    def _drop_unsupported(cls, rgb: np.ndarray, fg: np.ndarray, enclosed: np.ndarray) -> np.ndarray:
        """Take out what GrabCut kept that nothing in the photo says is product: regions
        whose colour is the background's around them (the background spread in from
        outside the cut-out, so a darker mottle of paper counts as paper), not closed by
        strong edges, that either stick out of the product into the background (a slab of
        paper grown from a mottle touching it: GrabCut's 8-neighbour smoothing gives such
        slabs their octagonal corners, and the smoother a downscaled 12 MP photo is, the
        further they grow) or lie enclosed in it with the background's own texture (the
        paper seen through a mug's handle). A pale label between coloured parts is
        bounded by product on most of its outline, and a plain one enclosed has none of
        the background's texture: both stay."""
        f = fg > 0.5
        if f.sum() < 50 or f.all():
            return fg
        behind = cls._background_behind(rgb, f)
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
        lab_behind = cv2.cvtColor(np.clip(behind, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
        diff = lab - lab_behind
        diff[..., 0] *= 0.5  # lightness counts half: mottling, light and shade are the background's
        local = cv2.GaussianBlur(np.linalg.norm(diff, axis=-1), (0, 0), 1.0)
        k9 = np.ones((9, 9), np.uint8)
        ring = ~(cv2.dilate(f.astype(np.uint8), k9) > 0) & (cv2.dilate(f.astype(np.uint8), np.ones((41, 41), np.uint8)) > 0)
        if not ring.any():
            return fg
        # how far the background strays from itself (a cast shadow in the ring strays far:
        # a lower percentile keeps it from setting the scale)
        spread = float(np.percentile(local[ring], 80)) + 1.0
        # the rim is mixed with what lies behind it: judged from two pixels in
        interior = cv2.erode(f.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        # like the background, and unlike every colour of what clearly is product
        core = interior & (local > 1.5 * spread)
        if core.sum() < 20:
            return fg  # nothing stands out clearly (white on white): GrabCut's call stands
        lab[..., 0] *= 0.5
        sample = lab[core][:: max(1, int(core.sum()) // 4000)]
        _, _, centres = cv2.kmeans(sample, min(4, len(sample)), None,
                                   (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0), 1,
                                   cv2.KMEANS_PP_CENTERS)
        to_product = nearest_distance(lab, centres)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        detail = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 2.0))
        texture = float(np.median(detail[ring]))
        weak = interior & (local < 2 * spread) & (2 * local < to_product)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(weak.astype(np.uint8), connectivity=8)
        out = f.astype(np.float32)
        if n <= 1:
            return out
        strong = f & ~weak
        k3, k5 = np.ones((3, 3), np.uint8), np.ones((5, 5), np.uint8)
        keep = strong & interior

        def drop(pad, region) -> None:
            # with its mixed rim, up to the product that stands out
            out[pad][(cv2.dilate(region.astype(np.uint8), k5) > 0) & ~keep[pad]] = 0

        outside = ~f
        to_outside = cv2.distanceTransform((~outside).astype(np.uint8), cv2.DIST_L2, 5)
        min_area = max(12, 0.002 * f.sum())
        wall = max(4.0, 0.06 * np.sqrt(f.sum()))  # product between a hole and the outside: more than a rim
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] < min_area:
                continue
            x, y, w, h = stats[i, :4]
            pad = (slice(max(0, y - 4), y + h + 4), slice(max(0, x - 4), x + w + 4))
            comp = labels[pad] == i
            edge = (cv2.dilate(comp.astype(np.uint8), k3) > 0) & ~comp
            # what it borders: product that stands out, or the background (the rim counts as that)
            touching = float(keep[pad][edge].mean()) if edge.any() else 0.0
            if touching > 0.97 and float(to_outside[pad][comp].min()) > wall:
                # enclosed by product (apart from the outside by more than its rim): a hole when it is an area (not a line of print) with the
                # background's texture inside it; on a plain background, when it also is the
                # background's very colour and only a thin wall of product parts it from the
                # outside (a handle's gap; a printed logo sits inside solid product)
                inside = cv2.erode(comp.astype(np.uint8), k5) > 0
                if inside.sum() < 0.3 * comp.sum() or comp.sum() > 0.15 * f.sum():
                    continue  # a line of print, or most of the product: not a hole
                within = (masks.fill_holes(comp.astype(np.float32)) > 0.5) & ~comp
                if (within & core[pad]).sum() > 0.01 * comp.sum():
                    continue  # print inside it (a label's lines): what is seen through a hole has none
                textured = texture > 0.6 and float(np.median(detail[pad][inside])) > 0.6 * texture
                walled = float(np.percentile(to_outside[pad][edge], 25)) < 0.5 * np.sqrt(comp.sum())
                if textured or (walled and float(np.median(local[pad][inside])) < spread):
                    drop(pad, comp)
                continue
            loose = comp & ~enclosed[pad]  # what strong edges close in stays (white on white)
            if touching < 0.5 and loose.sum() > 0.5 * comp.sum() and float(np.median(local[pad][comp])) < spread:
                drop(pad, loose)  # mostly against the background: it sticks out
        return out

    @staticmethod
    def _fill_product_holes(fg: np.ndarray, bg_dist: np.ndarray, noise: float) -> np.ndarray:
        """Fill enclosed holes unless they look like the background (a mug handle's gap)."""
        hole_mask = (1 - fg).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(hole_mask, connectivity=4)
        h, w = fg.shape
        out = fg.copy()
        for i in range(1, n):
            x, y, bw, bh, area = stats[i]
            if x == 0 or y == 0 or x + bw == w or y + bh == h:
                continue
            region = labels == i
            if area < 0.002 * fg.sum() or float(np.median(bg_dist[region])) > 2.0 * noise:
                out[region] = 1.0
        return out
