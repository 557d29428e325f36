"""The product's stages and recipes, registered by name."""

from __future__ import annotations

from studio.pipeline.registry import Registry

REGISTRY = Registry()
