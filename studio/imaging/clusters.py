"""Colour clusters: distance from each pixel to the nearest of a few colour centres."""

from __future__ import annotations

import numpy as np


def nearest_distance(pixels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Euclidean distance from each pixel (…, C) to its nearest centre (k, C).
    |x − c|² = |x|² − 2x·c + |c|²: one small matrix product instead of a
    (pixels × centres × C) difference array."""
    channels = pixels.shape[-1]
    x = pixels.reshape(-1, channels).astype(np.float32)
    # one centre given as a flat vector, or k-means' (k, 1, C): always (k, C)
    c = np.asarray(centres, np.float32).reshape(-1, channels)
    if len(c) == 0:  # nothing to be near
        return np.full(pixels.shape[:-1], np.inf, np.float32)
    d2 = (x * x).sum(axis=1, keepdims=True) - 2 * x @ c.T + (c * c).sum(axis=1)
    return np.sqrt(np.maximum(d2.min(axis=1), 0)).reshape(pixels.shape[:-1])
