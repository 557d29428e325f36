"""What Studio knows of a model's weights before any of them is on disk: the repository,
the files that make it whole, the download patterns, its size and memory, and its
licence (what a seller may do with it is part of the product)."""

from __future__ import annotations

from dataclasses import dataclass

COMMERCIAL_USE = ("yes", "no", "paid-licence")


@dataclass(frozen=True)
class ModelSpec:
    """Weights a backend needs: where they come from, which files make them whole,
    their size, the memory they run in, and their licence — what a seller may do with
    them is part of the product."""

    id: str
    repo_id: str
    kind: str  # "segment" | "generate" | "score" | "video" | "upscale" | "depth"
    files: tuple[str, ...]  # what its loader reads (`a|b`: either); an index's shards are checked too
    size_gb: float  # on disk: what `allow_patterns` select in the repository
    licence: str  # its name
    licence_url: str
    commercial_use: str  # "yes" | "no" | "paid-licence" (only under a licence bought from its maker)
    licence_note: str  # one line: what the licence asks of a seller
    vram_gb: float  # GPU memory it runs in (its lightest plan, fp16/bf16)
    title: str = ""
    # the globs huggingface_hub downloads with: the files the loader reads and nothing
    # else large (no single-file checkpoints, fp32 copies or ONNX exports beside them)
    allow_patterns: tuple[str, ...] = ()
    ignore_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.commercial_use not in COMMERCIAL_USE:
            raise ValueError(f"{self.id}: commercial_use must be one of {COMMERCIAL_USE}")

    def allowed_for(self, usage: str) -> bool:
        """Whether a person with this declared use may run it without buying a licence."""
        return usage != "commercial" or self.commercial_use == "yes"

    def licence_line(self) -> str:
        """One line for people: the licence, and what it requires of them."""
        verdict = {"yes": "commercial use allowed", "no": "not for commercial use",
                   "paid-licence": "commercial use needs a licence from its maker"}[self.commercial_use]
        return f"{self.title or self.id}: {self.licence} ({verdict}). {self.licence_note} {self.licence_url}"
