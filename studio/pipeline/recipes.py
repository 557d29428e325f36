"""The product's stages and recipes, registered by name."""

from __future__ import annotations

from studio.pipeline import stages_cutout
from studio.pipeline.registry import Node, Registry

REGISTRY = Registry()
for _stage in stages_cutout.STAGES:
    REGISTRY.stage(_stage)


def cutout_nodes() -> list[Node]:
    return [
        Node("ingest", "ingest"),
        Node("segment", "segment", {"image": "ingest.image"}),
        Node("touchup", "touchup", {"image": "ingest.image", "alpha": "segment.alpha"}),
        Node("matte", "matte", {"image": "ingest.image", "alpha": "touchup.alpha"}),
    ]


@REGISTRY.recipe("cutout")
def cutout(params: dict) -> list[Node]:
    """photo (artifact hash of the upload) → RGBA cut-out."""
    return cutout_nodes()
