"""Frame first: the frame a shot is delivered in, and the composition in it.

A shot is made for its frame, the export preset's size and aspect (a draft `long_side`
keeps the preset's aspect at fewer pixels). Every engine works on the scene as
`frame_scene` lays it out for that frame: its canvas is the frame, and the fill, spot,
margins, floor and horizon are shares of *this* frame, so nothing is cropped or
resampled after the shot is made. Another preset of the same shot is another layout of
the same choices (spot, fill, light, seed), never a crop of this one.

On a seller's backdrop photo `backdrop_window` picks the part of the photo the frame
shows: the frame's aspect, as large as the photo allows, placed so that the product
(its foot on the spot, at its fill of the frame) stands wholly inside with a margin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from studio.scenes import Scene

# kept clear round a product whose share of the frame a marketplace fixes (Amazon main's
# 85%: 7.5% each side), and round a product on a backdrop photo
FILL_MARGIN = 0.005


@dataclass(frozen=True)
class Frame:
    width: int
    height: int
    fill: float | None = None  # the product's longer side as the preset fixes it (a share of this frame)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def describe(self) -> str:
        return f"{self.width}×{self.height}"


def frame_for(preset_id: str, long_side: int | None = None) -> Frame:
    """The frame of a preset (its exact size; with `long_side`, a draft at the preset's
    aspect: previews and tests)."""
    from studio.imaging.export import get_preset

    p = get_preset(preset_id)
    W, H = p.width, p.height
    if long_side and long_side != max(W, H):
        s = long_side / max(W, H)
        W, H = max(1, round(W * s)), max(1, round(H * s))
    return Frame(W, H, p.fill)


def frame_scene(scene: Scene, frame: Frame) -> Scene:
    """`scene` laid out for `frame`: its canvas is the frame. A preset that fixes the
    product's share (Amazon main) centres it at exactly that share, whatever the scene's
    or the variant's framing."""
    out = replace(scene, aspect=(frame.width, frame.height), size=max(frame.width, frame.height))
    if frame.fill:
        margin = max(0.0, (1 - frame.fill) / 2 - FILL_MARGIN)
        # on the marketplace's pure white no set shows: no podium raises or shrinks the product
        out = replace(out, placement=replace(scene.placement, anchor="center", scale=frame.fill, margin=margin,
                                             exact=True), classic=replace(scene.classic, set="none"))
        if scene.backdrop is not None:
            out = replace(out, backdrop=replace(scene.backdrop, fill=frame.fill))
    return out


@dataclass(frozen=True)
class Window:
    """The part of a backdrop photo a frame shows, in the photo's pixels, and the spot
    (the product's foot) in shares of that frame."""

    x: int
    y: int
    w: int
    h: int
    spot: tuple[float, float]


def window_size(photo_size: tuple[int, int], frame_size: tuple[int, int]) -> tuple[int, int]:
    """The largest window of the photo (w, h) at the frame's aspect."""
    w, h = photo_size
    aspect = frame_size[0] / frame_size[1]
    cw, ch = (h * aspect, float(h)) if w / h > aspect else (float(w), w / aspect)
    return min(w, max(1, round(cw))), min(h, max(1, round(ch)))


def backdrop_window(photo_size: tuple[int, int], frame_size: tuple[int, int], spot: tuple[float, float],
                    product_size: tuple[int, int], fill: float, margin: float = 0.04) -> Window:
    """The window of the photo (w, h) at the frame's aspect, as large as the photo
    allows, that keeps the spot (shares of the photo) where it was as far as it can
    while the product — its foot on the spot, its height `fill` of the frame — stands
    wholly inside with `margin` to spare."""
    w, h = photo_size
    cw, ch = window_size(photo_size, frame_size)
    pw, ph = product_size
    # the product in the photo's pixels, as the frame will show it (cf. backdrop.stand_box)
    s = min(fill * ch / ph, (1 - 2 * margin) * cw / pw, (1 - 2 * margin) * ch / ph)
    bw, bh = pw * s, ph * s
    fx, fy = spot[0] * w, spot[1] * h  # the foot
    x0, y0 = fx - spot[0] * cw, fy - spot[1] * ch  # the spot where it was
    # then moved just enough for the product to be inside with its margin …
    x0 = min(max(x0, fx + bw / 2 + margin * cw - cw), fx - bw / 2 - margin * cw)
    y0 = min(max(y0, fy + margin * ch - ch), fy - bh - margin * ch)
    # … and never past the photo's edges (stand_box then moves the product in)
    x0 = int(round(min(max(x0, 0), w - cw)))
    y0 = int(round(min(max(y0, 0), h - ch)))
    return Window(x0, y0, cw, ch, ((fx - x0) / cw, (fy - y0) / ch))
