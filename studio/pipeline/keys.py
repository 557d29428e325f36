"""Names the engine and the flows above it share, defined once: the inputs a person
gives a job (`job_inputs` keys) and the node keys of the product's recipes."""

from __future__ import annotations

# inputs a person gives a job
MASK_EDITS = "mask_edits"  # touch-up edits of the cut-out (a list, replayed in order)
REVIEW = "review"  # the review decision on a job none of whose variants passed the gate

# nodes of the cutout and shoot recipes
INGEST = "ingest"
SEGMENT = "segment"
TOUCHUP = "touchup"
MATTE = "matte"
ENLARGE = "enlarge"  # a shoot's product, enlarged where the photo gives it fewer pixels than the export
DESCRIBE = "describe"
PROMPT = "prompt"
SELECT = "select"


def generate(i: int) -> str:
    return f"generate[{i}]"


def preserve(i: int) -> str:
    return f"preserve[{i}]"


def score(i: int) -> str:
    return f"score[{i}]"


def gate(i: int) -> str:
    return f"gate[{i}]"


def color(i: int) -> str:
    return f"color[{i}]"


def export(i: int) -> str:
    return f"export[{i}]"
