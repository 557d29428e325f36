"""What can run on this machine: the engines and cut-out backends (read from the model
registry, so a new model shows up everywhere at once), which one `auto` takes, the GPU
and its VRAM plan, the models installed, downloads and removals."""

from __future__ import annotations

from pathlib import Path

from studio.config import load_settings, save_settings
from studio.models import registry
from studio.models.registry import DownloadError

__all__ = ["DownloadError", "download", "engine_choices", "gpu_report", "model_ids", "model_table", "plan_choices",
           "plan_note", "remove", "resolve_engine", "segmenter_choices", "set_plan"]


def engine_choices() -> list[str]:
    """`auto` and every generator in the registry (classic, flux, sdxl, cloud, ...)."""
    return ["auto", *registry.engines()]


def segmenter_choices() -> list[str]:
    return registry.segmenter_choices()


def resolve_engine(engine: str) -> str:
    """`auto`: a local model when it is installed and a CUDA GPU is present (unless the
    cloud policy is cloud-only); else the cloud when a key is set and the policy allows
    it; else the classic compositor. A named engine is checked against the registry."""
    if engine != "auto" and engine not in registry.engines():
        raise ValueError(f"engine {engine!r} is not available; use {', '.join(engine_choices())}")
    s = load_settings()
    return registry.pick_generator(engine, s.cloud_policy, s.usage, tuple(s.licences_held))


def engine_price(engine: str) -> float:
    """What one image costs on this engine (0 for local ones)."""
    return registry.generator(engine).price({})


def _card():
    from studio.models.devices import detect_card  # imports torch: only on request

    return detect_card()


def plan_note(engine: str, variants: int) -> dict:
    """What a shoot with this engine would use: the engine `auto` resolves to, the
    VRAM plan for a local model, and the most the cloud could charge."""
    settings = load_settings()
    resolved = resolve_engine(engine)
    out: dict = {"engine": resolved, "plan": None, "cost": 0.0}
    backend = registry.generator(resolved)
    if backend.weights is not None:
        w = backend.weights
        out["model"] = {"title": w.title or w.id, "licence": w.licence, "commercial_use": w.commercial_use,
                        "licence_line": w.licence_line(),
                        "allowed": registry.licensed(w, settings.usage, tuple(settings.licences_held))}
    if backend.local_gpu:
        card = _card()
        forced = settings.vram_plan if settings.vram_plan in {p.id for p in backend.plans()} else None
        plan = backend.plan(card, 1024 * 1024, forced)  # "auto" fits the plan to the card
        where = f"{card.name}, {card.total_gb:.0f} GB" if card else "no CUDA GPU"
        out["plan"] = {"card": where, **plan.as_dict()} if plan else {"card": where, "id": "none",
                                                                      "note": "no plan runs on this card"}
    each = backend.price({})
    if each:
        # a variant the gate rejects is generated again, up to gate_attempts times
        out["cost"] = round(each * variants, 4)
        out["cost_max"] = round(each * variants * settings.gate_attempts, 4)
    return out


def plan_ids(engine: str) -> list[str]:
    return [p.id for p in registry.generator(engine).plans()]


def gpu_report() -> dict:
    """The card; for each local model, the plan it would take on it (remembering those
    that ran out of memory here; None when none can run on this card) and its plans;
    the plan chosen in the settings. `plan`/`plans` are the first model's (klein 4B)."""
    card = _card()
    models = {}
    for engine in registry.local_generators():
        g = registry.generator(engine)
        plan = g.plan(card, 1024 * 1024)
        models[engine] = {"title": g.title, "plan": plan.as_dict() if plan else None,
                          "plans": [p.as_dict() for p in g.plans()]}
    first = next(iter(models.values()))
    return {"card": None if card is None else {"name": card.name, "total_gb": round(card.total_gb, 1),
                                               "free_gb": round(card.free_gb, 1),
                                               "capability": ".".join(map(str, card.capability))},
            "plan": first["plan"], "plans": first["plans"], "models": models,
            "chosen": load_settings().vram_plan}


def plan_choices() -> list[str]:
    return ["auto", *[p for e in registry.local_generators() for p in plan_ids(e)]]


def set_plan(plan: str) -> None:
    if plan not in plan_choices():
        raise ValueError(f"unknown VRAM plan {plan!r}; choose from {', '.join(plan_choices())}")
    settings = load_settings()
    settings.vram_plan = plan
    save_settings(settings)


def model_ids() -> list[str]:
    return list(registry.specs())


def model_table() -> list[dict]:
    return registry.model_table()


def installed(model_id: str) -> bool:
    return registry.locate(model_id) is not None


def model_size_gb(model_id: str) -> float:
    return registry.specs()[model_id].size_gb


def licence_line(model_id: str) -> str:
    """The model's licence and what it requires of a seller, in one line."""
    return registry.specs()[model_id].licence_line()


def needs_licence(model_id: str) -> bool:
    """Whether the declared use in the settings is not allowed by the model's licence."""
    s = load_settings()
    return not registry.licensed(registry.specs()[model_id], s.usage, tuple(s.licences_held))


def engine_note(engine: str) -> str | None:
    """For an engine named explicitly whose model the declared use does not allow: one
    line saying what its licence requires (it runs all the same)."""
    if engine not in registry.engines():
        return None
    w = registry.generator(engine).weights
    return w.licence_line() if w is not None and needs_licence(w.id) else None


def backend_facts(name: str) -> dict:
    """A cut-out backend's title and licence, by the name a Segmentation carries."""
    for spec in registry.specs().values():
        if spec.kind == "segment" and name in (spec.id, spec.title):
            return {"title": spec.title or spec.id, "licence": spec.licence, "commercial_use": spec.commercial_use}
    return {"title": "classic" if name == "classic" else name, "licence": "Studio's own (Apache-2.0)",
            "commercial_use": "yes"}


def download(model_id: str, token: str | None = None) -> Path:
    return registry.download(model_id, token=token)


def remove(model_id: str) -> Path:
    return registry.remove(model_id)
