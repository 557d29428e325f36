"""A generated clip: an image-to-video model animates the shot; then the product is
checked frame by frame with the fidelity scorer against the shot's own product. Where
the camera stayed still (the backdrop hardly moves), the product is pasted back exactly
in every frame; where it moved, frames whose product drifted are reported (the clip
stage makes the clip again with another seed, then flags it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np

from studio.clips.classic import build_layers, paste_product, product_transform, render_frame

STILL_LEVELS = 6.0  # mean change of the backdrop (0..255) under which the camera counts as still
CHECK_EVERY = 4  # model frames between two fidelity checks


def generated_frames(shot: np.ndarray, alpha: np.ndarray, settings: dict, *, direction: float = 135.0,
                     prompt: str = "",
                     check_cancelled: Callable[[], None] = lambda: None,
                     progress: Callable[[float, str], None] = lambda f, m: None,
                     model=None) -> tuple[Iterator[np.ndarray], dict]:
    from studio.imaging.fidelity import fidelity
    from studio.models.video_wan import WanClipModel, model_frames, shape_of

    model = model or WanClipModel()
    out_size = (settings["width"], settings["height"])
    size = model.sizes[shape_of(*out_size)]
    small = build_layers(shot, alpha, size, direction)
    first, m0 = render_frame(small, 0.0, settings["motion"], light=False)
    n_model = model_frames(settings["seconds"], model.native_fps)

    def on_step(i: int, n: int) -> None:
        check_cancelled()
        progress(0.8 * i / n, f"step {i} of {n}")

    text = (f"{prompt}. A slow, smooth camera {settings['motion'].replace('-', ' ')}; the product stays exactly as "
            "it is: same shape, colours, label and text.")
    video = model.frames(first, text, num_frames=n_model, seed=settings.get("seed", 0), on_step=on_step)
    # the product as the first frame shows it, and where it is
    a0 = cv2.warpAffine(small.product[..., 3], m0, size, flags=cv2.INTER_LINEAR)
    placed = np.dstack([first.astype(np.float32) / 255, a0.astype(np.float32) / 255])
    around = cv2.dilate((a0 > 2).astype(np.uint8), np.ones((25, 25), np.uint8)) == 0
    moved = [float(np.abs(f.astype(np.int16) - video[0].astype(np.int16))[around].mean()) for f in video]
    still = max(moved) < STILL_LEVELS
    scores = {}
    for i in range(0, len(video), CHECK_EVERY):
        check_cancelled()
        scores[i] = fidelity(video[i], placed).score
    threshold = settings.get("fidelity_threshold", 0.75)
    drift = [i for i, s in scores.items() if s < threshold]
    report = {"engine": "wan", "model_frames": n_model, "camera_still": still, "pasted_back": still,
              "backdrop_change_max": round(max(moved), 2), "fidelity_min": round(min(scores.values()), 4),
              "fidelity_mean": round(float(np.mean(list(scores.values()))), 4),
              "drift_frames": [] if still else drift, "ok": still or not drift}
    big = build_layers(shot, alpha, out_size, direction) if still else None
    m_big = product_transform(big, 0.0, settings["motion"]) if still else None

    def frames() -> Iterator[np.ndarray]:
        for j in range(settings["frames"]):
            k = min(len(video) - 1, round(j / settings["fps"] * model.native_fps))
            frame = cv2.cvtColor(cv2.resize(video[k], out_size, interpolation=cv2.INTER_CUBIC), cv2.COLOR_RGB2RGBA)
            if still:  # the shot's own product, where it stands, in every frame
                paste_product(frame, big, m_big, None)
            yield frame

    return frames(), report
