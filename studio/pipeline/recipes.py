"""The product's stages and recipes, registered by name."""

from __future__ import annotations

from studio.pipeline import stages_clip, stages_cutout, stages_score, stages_shoot
from studio.pipeline.registry import Node, Registry

REGISTRY = Registry()
for _stage in stages_cutout.STAGES + stages_shoot.STAGES + stages_score.STAGES + stages_clip.STAGES:
    REGISTRY.stage(_stage)


def cutout_nodes(crop: bool = False) -> list[Node]:
    """With crop, the cut-out is only the product's box: what a shoot places, at a
    tenth of the pixels to store and read for every variant."""
    return [
        Node("ingest", "ingest"),
        Node("segment", "segment", {"image": "ingest.image"}),
        Node("touchup", "touchup", {"image": "ingest.image", "alpha": "segment.alpha"}),
        Node("matte", "matte", {"image": "ingest.image", "alpha": "touchup.alpha"}, {"crop": crop}),
    ]


@REGISTRY.recipe("cutout")
def cutout_recipe(params: dict) -> list[Node]:
    """photo (artifact hash of the upload) → RGBA cut-out."""
    return cutout_nodes()


@REGISTRY.recipe("shoot")
def shoot_recipe(params: dict) -> list[Node]:
    """photo → cut-out → N variants in a scene → fidelity gate → colour → export, and a
    proposed pick. The engine's generator (from the model registry) decides where the
    generate runs go and whether they wait for the prompt."""
    from studio.models.registry import generator

    n = int(params.get("variants", 4))
    if not 1 <= n <= 16:
        raise ValueError("variants must be 1..16")
    cut = "enlarge.cutout"  # the product as every variant places it (enlarged where the photo is small)
    backend = generator(params.get("engine", "classic"))
    nodes = cutout_nodes(crop=True) + [
        Node("enlarge", "enlarge", {"cutout": "matte.cutout"}),
        Node("describe", "describe", {"cutout": "matte.cutout"}),
        Node("prompt", "prompt", {"category": "describe.category", "colors": "describe.colors",
                                  "view": "describe.view"}),
    ]
    gen_deps = {"cutout": cut, "enlarged": "enlarge.enlarged"}  # (what it records of the product's scale)
    if backend.reads_prompt:  # the classic compositor does not: it starts as soon as the cut-out is ready
        gen_deps |= {"prompt": "prompt.prompt", "simple_prompt": "prompt.simple_prompt"}
    if backend.takes_negative:
        gen_deps["negative"] = "prompt.negative"
    for i in range(n):
        nodes += [
            Node(f"generate[{i}]", "generate", gen_deps, {"index": i}, device=backend.device),
            Node(f"preserve[{i}]", "preserve", {"image": f"generate[{i}].image", "cutout": cut,
                                                "box": f"generate[{i}].box"}, {"index": i}),
            Node(f"score[{i}]", "score", {"image": f"preserve[{i}].image", "cutout": cut,
                                          "box": f"generate[{i}].box"}, {"index": i}),
            Node(f"gate[{i}]", "gate", {"fidelity": f"score[{i}].fidelity", "reason": f"score[{i}].reason"},
                 {"index": i}),
            # colour waits for the gate: a rejected variant is regenerated first
            Node(f"color[{i}]", "color", {"image": f"preserve[{i}].image", "cutout": cut, "box": f"generate[{i}].box",
                                          "_gate": f"gate[{i}].verdict"}),
            Node(f"export[{i}]", "export", {"image": f"color[{i}].image", "cutout": cut, "box": f"generate[{i}].box",
                                            "enlarged": "enlarge.enlarged"}),
        ]
    picks = {"prompt": "prompt.prompt"}
    for i in range(n):
        picks |= {f"image{i}": f"preserve[{i}].image", f"verdict{i}": f"gate[{i}].verdict",
                  f"compliance{i}": f"export[{i}].compliance"}
    if params.get("hold_doubtful"):  # select holds a doubtful cut-out for review
        picks |= {"cutout_confidence": "segment.confidence", "cutout_edits": "touchup.edits"}
    nodes.append(Node("select", "select", picks))
    if params.get("clip"):  # a short video of the chosen variant, after its export
        deps = {"chosen": "select.chosen", "cutout": cut, "prompt": "prompt.prompt"}
        for i in range(n):
            deps |= {f"image{i}": f"color[{i}].image", f"box{i}": f"generate[{i}].box", f"seed{i}": f"generate[{i}].seed",
                     f"_export{i}": f"export[{i}].file"}
        nodes.append(Node("clip", "clip", deps, device="gpu" if params["clip"].get("engine") == "wan" else "cpu"))
    return nodes
