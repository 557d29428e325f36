"""What to say when a cut-out looks doubtful, and what to offer: the same line on the
page, in the CLI and in the API.

A doubtful cut-out (confidence under LOW) is one to check: touch up the mask, or cut it
out with a model. BiRefNet lite is the one offered: 0.2 GB, MIT (a seller may use it),
and runs on a CPU. Every fidelity score is measured against the cut-out, so a doubtful
one makes "fidelity 1.00, passed" mean little: the variants say so too."""

from __future__ import annotations

from studio.models.classic_confidence import LOW

MODEL = "birefnet-lite"


def advice(backend: str, confidence: float) -> dict | None:
    """None when the cut-out looks right; else {line, touch_up, model, installed,
    download}: one sentence for people, and the model to offer (None when a model
    already made it)."""
    if confidence >= LOW:
        return None
    from studio.models import registry

    spec = registry.specs()[MODEL]
    installed = registry.locate(spec) is not None
    head = f"The cut-out looks doubtful (confidence {confidence:.2f}): check its edges and touch up the mask"
    if backend != "classic":
        return {"line": head + ".", "touch_up": True, "model": None, "installed": None, "download": None}
    title = spec.title or spec.id
    if installed:
        line = f"{head}, or cut it out with {title} (--backend {MODEL})."
    else:
        # a whole sentence, the command in parentheses: what follows it on the same line
        # (the CLI's "The fidelity checks …") must not read as part of the command
        line = (f"{head}, or download {title} ({spec.size_gb:.1f} GB, {spec.licence}, commercial use allowed) for a "
                f"model cut-out (studio models download {MODEL}).")
    return {"line": line, "touch_up": True, "model": MODEL, "installed": installed,
            "download": None if installed else f"studio models download {MODEL}"}


def job_advice(store, job_id: str, seg: dict) -> dict | None:
    """`advice` for a job's cut-out, unless a person touched it up (then they have looked)."""
    from studio.pipeline import keys, queries

    try:
        touched = queries.stage_output(store, job_id, keys.TOUCHUP, only=("edits",)).get("edits", 0)
    except KeyError:  # a recipe without a touch-up step
        touched = 0
    return None if touched else advice(seg["backend"], seg["confidence"])


CAVEAT = "measured against a doubtful cut-out"


def fidelity_caveat(cutout_advice: dict | None) -> str | None:
    """What every verdict measured through the mask (a variant's fidelity and gate, its
    compliance report's fill and purity) must carry when the cut-out is doubtful."""
    return CAVEAT if cutout_advice else None
