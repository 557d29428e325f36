"""How sure the classic cut-out is: an estimate of its quality (IoU with the true
product) from what the photo shows, calibrated on the generated corpus with true masks
(`bench/segment.py --calibrate` prints the rank correlation).

The strongest sign is the outline itself: a correct cut-out's outline runs along edges
in the photo; a slab of background kept (paper, a cast shadow) or a part lost (a label
cut off) leaves stretches of outline where the photo has no edge at all. Beside it: how
well the product separates from the background model, how much GrabCut agreed with its
seeds, whether the product is cut by the photo's frame, and whether the cut-out fell
apart into pieces."""

from __future__ import annotations

import cv2
import numpy as np

LOW = 0.6  # under this, the person is asked to check the edges (page, CLI, API)
# kept background and lost parts (issue 40), tuned on the generated corpus (bench/segment.py --calibrate)
BG_INSIDE_OK, KEPT_WEIGHT = 0.05, 3.0  # a white product on white paper has some background colour inside
BARE_BG_OK, BARE_WEIGHT = 0.15, 2.0  # a real photo's product meets shaded ground in its own tones
LEFT_OUT_OK = 0.05


def features(rgb: np.ndarray, fg: np.ndarray, seed: np.ndarray, bg_dist: np.ndarray) -> dict:
    """The measurements the confidence is made of, at working resolution."""
    f = fg > 0.5
    out = {"area": float(f.mean()), "pixels": int(f.sum())}
    if out["area"] < 0.005 or f.all():
        return out
    # the seeds near the product (a textured background seeds specks everywhere, which
    # GrabCut rightly drops: they say nothing about this cut-out)
    near = cv2.dilate(f.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    inter, union = np.logical_and(f, seed).sum(), np.logical_or(f, seed & near).sum()
    out["agreement"] = float(inter / max(union, 1))
    inside = float(np.median(bg_dist[f]))
    outside = float(np.percentile(bg_dist[~f], 90))
    out["separation"] = float(np.clip((inside - outside) / (inside + 1e-3), 0, 1))
    # cut by the frame: the cut-out runs into the photo's edge (the segmenter lets it
    # only where something unlike the background crosses the border)
    contact = int(f[0].sum() + f[-1].sum() + f[:, 0].sum() + f[:, -1].sum())
    # the outline on the photo's edges: the strongest gradient next to each outline pixel,
    # against what the background's own texture makes
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    grad = cv2.dilate(np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)),
                      np.ones((3, 3), np.uint8))
    f8 = f.astype(np.uint8)
    outline = (f8 - cv2.erode(f8, np.ones((3, 3), np.uint8))) > 0
    outline[0, :] = outline[-1, :] = outline[:, 0] = outline[:, -1] = False  # the frame is no edge to find
    ring = (cv2.dilate(f8, np.ones((25, 25), np.uint8)) > 0) & ~(cv2.dilate(f8, np.ones((7, 7), np.uint8)) > 0)
    texture = float(np.percentile(grad[ring], 90)) if ring.any() else 0.0
    # the share of the product's outline that is the photo's edge
    out["frame"] = contact / max(1, contact + int(outline.sum()))
    if outline.sum() >= 8:
        on_edge = grad[outline] > max(12.0, 1.5 * texture)
        out["support"] = float(on_edge.mean())
        # a slab kept or a part cut off leaves one long stretch of outline with no edge,
        # where a textured background leaves many short ones
        bare = np.zeros_like(f8)
        bare[outline] = ~on_edge
        n, _, stats, _ = cv2.connectedComponentsWithStats(bare, connectivity=8)
        out["gap"] = float(stats[1:, cv2.CC_STAT_AREA].max() / outline.sum()) if n > 1 else 0.0
        # where the outline meets the product's own cast shadow there is often no edge to
        # find (a dark side against its darker shadow): no sign of a wrong cut-out
        darker = ~f & (grey < 0.85 * float(np.median(grey[ring]))) if ring.any() else np.zeros_like(f)
        by_shadow = cv2.dilate(darker.astype(np.uint8), np.ones((5, 5), np.uint8))[outline] > 0
        out["support_shadow"] = float((on_edge | by_shadow).mean())
    n, _, stats, _ = cv2.connectedComponentsWithStats(f8, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    out["pieces"] = int((areas >= 0.05 * areas.max()).sum())
    # kept background (issue 40): the background's colour inside the cut-out, and where it
    # meets the background with no edge between (a slab, the floor between feet or legs,
    # paper seen through a handle), and where it runs into the photo's frame (the floor)
    h, w = f.shape
    band = max(3, round(0.03 * min(h, w)))
    border = np.zeros((h, w), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    border &= ~f
    noise = float(np.percentile(bg_dist[border], 95)) + 2.0 if border.any() else 2.0
    like_bg = bg_dist < 1.5 * noise
    # background seen through the product: regions of the background's colour, split off by
    # the photo's edges, with product (not the outside) all round them (a stool's frame
    # filled). A white product on white paper has the background's colour too, but what
    # lies round it is the background itself.
    # (capped: the shadows round a product raise the ring's texture above the product's own edges)
    walls = cv2.dilate((grad > min(40.0, max(12.0, 1.5 * texture))).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats((f & ~walls).astype(np.uint8), connectivity=4)
    # the background in the product's shadow counts as background here: darker than the
    # background round the cut-out by one factor in every channel (a stool's frame in shadow)
    rgbf = rgb.astype(np.float32) + 1.0
    ref = np.median(rgbf[ring], axis=0) if ring.any() else rgbf.reshape(-1, 3).mean(axis=0)
    ratio = rgbf / ref
    level = ratio.mean(axis=-1)
    shaded = (level > 0.3) & (level < 0.93) & (ratio.std(axis=-1) / np.maximum(level, 1e-3) < 0.05)
    seen = like_bg | shaded
    product = f & ~seen & ~walls
    enclosed = 0
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < max(12, 0.01 * f.sum()):
            continue
        x, y, bw, bh = stats[i, :4]
        win = (slice(max(0, y - 12), y + bh + 12), slice(max(0, x - 12), x + bw + 12))
        comp = labels[win] == i
        if seen[win][comp].mean() < 0.85 or like_bg[win][comp].mean() < 0.2:
            continue
        c8 = comp.astype(np.uint8)  # what lies across its edge: a band beyond the edge's own width
        beyond = (cv2.dilate(c8, np.ones((21, 21), np.uint8)) > 0) & ~(cv2.dilate(c8, np.ones((9, 9), np.uint8)) > 0)
        beyond &= ~walls[win]
        # cut-out all round it, some of it product (not only more of the background)
        if beyond.any() and f[win][beyond].mean() > 0.9 and product[win][beyond].mean() > 0.2:
            enclosed += int(comp.sum())
    out["bg_inside"] = enclosed / max(1, int(f.sum()))
    if outline.sum() >= 8:
        # the outline's inner side: two pixels in (the outline itself is mixed with what lies beyond)
        inner_side = cv2.erode(f8, np.ones((5, 5), np.uint8))
        near_inner = cv2.dilate(inner_side & like_bg.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        edge_map = grad > max(12.0, 1.5 * texture)
        out["bare_bg"] = float((outline & ~edge_map & near_inner).sum() / outline.sum())
    # a part lost: what stands out clearly from the background, left outside the cut-out
    # near it (a lid beside its jar); the frame's band is left aside (things the photo cuts)
    # near: within about the product's own size (a lid set down beside its jar)
    near = cv2.distanceTransform(1 - f8, cv2.DIST_L2, 3) < max(30.0, 0.8 * float(np.sqrt(f.sum())))
    rim = cv2.dilate(f8, np.ones((9, 9), np.uint8)) > 0
    # by colour, or lighter than the background: the product's cast shadow (darker, neutral) is no part
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    around = lab[ring] if ring.any() else lab.reshape(-1, 3)
    med = np.median(around, axis=0)
    chroma = np.hypot(lab[..., 1] - med[1], lab[..., 2] - med[2])
    spread = float(np.percentile(np.hypot(around[:, 1] - med[1], around[:, 2] - med[2]), 95))
    stands_out = (chroma > max(10.0, 2.0 * spread)) | (lab[..., 0] > med[0] + 20)
    left = near & ~rim & stands_out & (bg_dist > 3.0 * noise)
    left[:band], left[-band:], left[:, :band], left[:, -band:] = False, False, False, False
    out["left_out"] = float(cv2.morphologyEx(left.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).sum()
                            / max(1, int(f.sum())))
    edge_px = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]])
    edge_bg = np.concatenate([like_bg[0], like_bg[-1], like_bg[:, 0], like_bg[:, -1]])
    out["frame_bg"] = float((edge_px & edge_bg).sum() / max(1, int(outline.sum()) + contact))
    return out


def confidence(feat: dict) -> tuple[float, list[str]]:
    """(0..1, notes for the person) from `features`. The form, its exponents and the two
    penalties were chosen on the generated corpus (Spearman's rank correlation with the
    IoU against the whole product, so that a product the frame cuts off counts as the
    partial cut-out it is: see bench/RESULTS.md); the power spreads it so that good
    cut-outs (IoU ≥ 0.93) sit above LOW and poor ones (< 0.8) mostly below."""
    if feat["area"] < 0.005 or "agreement" not in feat:
        return 0.0, ["no product found: paint it in with the touch-up brush"]
    notes = []
    # an outline without an edge only where it meets the product's own shadow is no sign
    support = feat.get("support_shadow", feat.get("support", 0.0))
    # a product a few thousand work pixels big is outlined by few of them: its edge
    # errors weigh more in its IoU
    size = min(1.0, feat.get("pixels", 3000) / 3000) ** 0.5
    raw = support * feat["separation"] * feat["agreement"] ** 2 * size / feat["pieces"]
    conf = raw ** 0.35
    if support < 0.7:
        notes.append("parts of the outline follow no edge in the photo (background kept, or part of the product "
                     "lost)")
    if feat["pieces"] > 1:
        notes.append(f"the cut-out is in {feat['pieces']} pieces")
    if feat.get("gap", 0.0) > 0.25:
        # a quarter of the outline in one stretch without an edge: a slab kept or a part cut off
        conf *= 0.7
        notes.append("one long stretch of the outline follows no edge in the photo")
    if feat["frame"] > 0.04:
        # even a clean cut-out of a product the photo cuts off makes a shot of part of it
        conf *= 0.6
        notes.append("the product may be cut by the photo's edge")
    if feat["area"] > 0.85:
        conf *= 0.5
        notes.append("the cut-out covers almost the whole photo")
    # issue 40: background kept inside the cut-out (a frame filled, the floor between feet or
    # legs), meeting the background without an edge, or running into the photo's floor; and
    # something that stands out left beside the cut-out (a part lost)
    kept = max(feat.get("bg_inside", 0.0) - BG_INSIDE_OK, 0.0)
    bare = max(feat.get("bare_bg", 0.0) - BARE_BG_OK, 0.0)
    if kept > 0 or bare > 0 or feat.get("frame_bg", 0.0) > 0.01:
        conf *= max(0.3, 1 - KEPT_WEIGHT * kept) * max(0.3, 1 - BARE_WEIGHT * bare)
        if feat.get("frame_bg", 0.0) > 0.01:
            conf *= 0.6
        notes.append("the cut-out seems to keep some of the background (the floor between feet or legs, or "
                     "what a hole shows)")
    if feat.get("left_out", 0.0) > LEFT_OUT_OK:
        conf *= 0.6
        notes.append("something that stands out from the background is left beside the cut-out (a part lost?)")
    conf = float(np.clip(conf, 0, 1))
    # under LOW, what to do is said by studio.app.cutout_advice, the same on page, CLI and API
    return round(conf, 3), notes
