"""Scene template + product description → prompt and negative prompt.

The preservation directives always stay: a user's free text is added to the scene,
never put in their place."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.scenes import Scene

MAX_EXTRA_CHARS = 300


@dataclass
class ProductDescription:
    category: str = "product"
    colors: list[str] = field(default_factory=list)  # colour names, most dominant first


def product_phrase(desc: ProductDescription) -> str:
    colours = [c for c in desc.colors[:2] if c]
    return (" and ".join(colours) + " " if colours else "") + (desc.category or "product")


def build_prompt(scene: Scene, desc: ProductDescription, extra: str = "", simple: bool = False) -> dict[str, str]:
    """`simple`: the scene without props, mood or free text (what the quality gate asks
    for after a variant keeps changing the product)."""
    p = scene.prompt
    subject = product_phrase(desc)
    parts = [f"Professional product photograph of a {subject}, standing on {p.surface}", p.background]
    extra = "" if simple else " ".join(extra.split())[:MAX_EXTRA_CHARS]
    optional = (p.lighting, p.camera) if simple else (p.props, p.lighting, p.camera, f"{p.mood} mood" if p.mood else "")
    parts += [x for x in (*optional, extra) if x]
    directives = [d.rstrip(".") for d in p.preservation]
    directives.append(f"the {subject} keeps its exact colours")
    prompt = ". ".join(parts) + ". " + "; ".join(directives) + "."
    negative = ", ".join(x for x in (p.negative, f"recoloured {desc.category}", "changed product shape") if x)
    return {"prompt": prompt, "negative": negative}
