"""The small protocols every backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image


@dataclass
class Segmentation:
    alpha: np.ndarray  # float32 (H, W) in [0, 1], the photo's own size
    confidence: float  # 0..1; under ~0.6 the UI suggests a touch-up
    backend: str
    notes: list[str] = field(default_factory=list)


class Segmenter(Protocol):
    name: str

    def segment(self, image: Image.Image) -> Segmentation: ...
