"""What the job API takes and answers, as typed models: they are published in
/api/v1/openapi.json (so generated clients get real types) and every response is
validated against them on the way out (extra or missing fields are a server error,
never a silent change of the contract)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


JobStatus = Literal["queued", "running", "waiting", "paused", "done", "failed", "cancelled"]


# -- what a caller sends --------------------------------------------------------------

class ShootParams(Strict):
    """The `params` part of POST /shoots and /batches (a JSON string in the form); anything
    left out comes from the server's settings."""

    scene: str | None = Field(None, description="scene id (GET /scenes)")
    variants: int | None = Field(None, ge=1, le=16, strict=True, description="how many variants")
    engine: str | None = Field(None, description="auto, classic, klein, sdxl, flux or cloud")
    preset: str | None = Field(None, description="export preset: amazon-main, amazon-secondary, shopify, etsy, "
                                                 "ebay, instagram")
    extra_prompt: str | None = Field(None, max_length=500, description="words added to the scene's prompt")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, strict=True)
    long_side: int | None = Field(None, ge=64, le=4096, strict=True, description="canvas long side in px")
    view: Literal["auto", "side", "top"] | None = None
    upscale: Literal["auto", "off", "classic", "swin2sr-x2", "swin2sr-x4", "swin2sr-x4-jpeg"] | None = Field(
        None, description="how a plate painted below the canvas size and a small product photo are enlarged; off: "
                          "plain resampling, the product's pixels exactly the photo's")
    clip: Literal["reels", "square", "listing"] | None = Field(None, description="also a classic clip at this preset")
    # strict: "0.5" and true are refused (a JSON bool is not a number), as every number here
    light_match: float | None = Field(None, ge=0, le=1, strict=True, description="how far the product's shading follows the "
                                      "scene's light (lightness only, its colour within ΔE 2); 0: its own pixels")
    hold_doubtful: bool | None = Field(None, description="a doubtful cut-out (confidence under 0.6, not touched "
                                       "up) holds the shoot in the review queue (status waiting) instead of "
                                       "finishing it")
    callback_url: str | None = Field(None, max_length=2048, description="called when the job ends (see webhooks)")


class CutoutParams(Strict):
    """The `params` part of POST /cutouts."""

    backend: str | None = Field(None, description="auto, birefnet, birefnet-lite, rmbg or classic")
    callback_url: str | None = Field(None, max_length=2048)


class ClipRequest(Strict):
    """The body of POST /jobs/{id}/clips; every field optional."""

    preset: Literal["reels", "square", "listing"] | None = None
    seconds: float | None = Field(None, ge=4, le=8, strict=True)
    fps: Literal[24, 30] | None = None
    motion: Literal["push-in", "orbit"] | None = None
    variant: int | None = Field(None, ge=0, le=15, strict=True, description="this variant instead of the chosen one")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, strict=True)
    engine: Literal["auto", "classic", "wan"] | None = None
    callback_url: str | None = Field(None, max_length=2048)


class ReviewDecision(Strict):
    action: Literal["accept", "reject"]
    variant: int | None = Field(None, ge=0, description="accept: the variant to keep")
    note: str | None = Field(None, max_length=500, description="reject: why")


# -- what it answers ------------------------------------------------------------------

class Error(Strict):
    error: str = Field(description="what went wrong, in a sentence")
    field: str | None = Field(None, description="the part or parameter it is about")


class Links(Strict):
    self: str
    cancel: str
    retry: str


class Accepted(Strict):
    id: str
    status: JobStatus
    links: Links
    replayed: bool = Field(description="true: an earlier POST with this Idempotency-Key made this job")


class BatchAccepted(Strict):
    jobs: list[Accepted]


class StageRun(Strict):
    key: str
    status: str
    attempt: int
    duration_s: float | None
    error: str | None


class WebhookDelivery(Strict):
    status: str = Field(description="the job status the callback announced")
    attempt: int
    at: float
    http_status: int | None
    error: str | None


class Scores(Strict):
    fidelity: float | None = Field(description="product fidelity, 0-1 (1: the photo's own pixels)")
    alignment: float | None = Field(description="CLIP prompt alignment, where CLIP is installed")
    aesthetic: float | None


class Verdict(Strict):
    passed: bool
    reason: str
    caveat: str | None = Field(None, description="set when the fidelity was measured against a doubtful cut-out")


class CutoutAdvice(Strict):
    line: str = Field(description="one sentence for people: what looks wrong and what to do")
    touch_up: bool
    model: str | None = Field(description="the model to cut out with instead (None: a model made it)")
    installed: bool | None
    download: str | None = Field(description="the command that installs it, where it is not installed")


class Enlarged(Strict):
    factor: float
    from_px: int = Field(description="the product's long side in the photo")
    upscaler: str
    note: str = Field(description='e.g. "product enlarged 2.4× from 820 px (swin2sr-x4-jpeg)"')


class Cutout(Strict):
    backend: str
    confidence: float = Field(ge=0, le=1, description="an estimate of the cut-out's quality; under 0.6: doubtful")
    advice: CutoutAdvice | None = Field(description="present when the cut-out is doubtful")
    enlarged: Enlarged | None = Field(None, description="a shoot's product enlarged for the export size")
    caveat: str | None = Field(None, description='a shoot\'s "measured against a doubtful cut-out": its variants\' '
                                                 "fidelity, gate and compliance were measured through this mask")


class Made(Strict):
    """How a variant's frame was made (frame first: the shot is made for its preset's frame)."""

    frame: str = Field(description='the frame\'s size, e.g. "2048×2048"')
    plate: str = Field(description='"rendered at frame size", "painted at 1024×1024", or "photo of 736×1600 px, …"')
    upscaler: str | None = Field(None, description="what took the plate up to the frame, where it was smaller")
    upscale_factor: float | None = None
    product_scale: float = Field(description="the product's size in the frame over its size in the photo")
    product: str | None = Field(None, description="how the product was enlarged, where it was")


class Variant(Strict):
    index: int
    seed: int
    rank: int = Field(description="1 is the best")
    scores: Scores
    verdict: Verdict
    compliance_ok: bool = Field(description="the export passes its marketplace preset's checks")
    compliance_caveat: str | None = Field(None, description="set when fill and purity were measured against a "
                                                            "doubtful cut-out")
    made: Made | None = Field(None, description="how its frame was made (None: shot before this was recorded)")
    file: str | None = Field(description="its file's path under /api/v1")


class ClipCheck(BaseModel):
    check: str
    ok: bool
    value: Any = None


class ClipReport(BaseModel):
    model_config = ConfigDict(extra="allow")
    ok: bool
    checks: list[ClipCheck]


class ClipSettings(BaseModel):
    model_config = ConfigDict(extra="allow")
    preset: str
    width: int
    height: int
    fps: int
    seconds: float
    motion: str
    engine: str | None = None
    seed: int | None = None


class Clip(Strict):
    settings: ClipSettings
    report: ClipReport
    product: dict[str, Any] = Field(description="how the product held in the clip (a generated clip's drift check)")
    file: str
    preview: str


class Job(Strict):
    """A job as GET /jobs/{id} answers it, and as a webhook sends it."""

    id: str
    kind: str | None = Field(description="shoot, cutout")
    status: JobStatus
    attempts: int | None = Field(description="attempts of the stage that failed it")
    waiting_for_review: bool
    created_at: float | None = Field(description="Unix time")
    finished_at: float | None
    error: str | None
    cost: float = Field(description="money spent on the cloud, in the price table's currency")
    stages: list[StageRun]
    links: Links
    webhooks: list[WebhookDelivery]
    progress: float = Field(ge=0, le=1)
    files: list[str] = Field(description="paths under /api/v1 of what the job exported")
    cutout: Cutout | None = None
    chosen: int | None = None
    variants: list[Variant] | None = None
    clip: Clip | None = None
    scene: str | None = Field(None, description="the shoot's scene (a backdrop part becomes one named backdrop-…)")
    backdrop: bool = Field(False, description="the shoot stands the product on a seller's backdrop photo")
    reference: bool = Field(False, description="a reference photo is kept with the shoot")
    light_match: float | None = Field(None, ge=0, le=1)


class JobSummary(Strict):
    id: str
    status: JobStatus
    kind: str
    title: str | None
    created_at: float
    finished_at: float | None
    cost: float
    links: Links


class JobList(Strict):
    jobs: list[JobSummary]


class ActionResult(Strict):
    id: str
    status: str
    links: Links


class Scene(Strict):
    id: str
    title: str
    category: str
    backdrop: bool = Field(False, description="a seller's own backdrop photo (saved from a backdrop part or "
                                              "`studio scenes add`)")


class SceneList(Strict):
    scenes: list[Scene]


class Model(Strict):
    id: str
    title: str
    repo_id: str
    kind: str
    installed: bool
    status: str = Field(description='"installed", "not installed" or "incomplete (N files missing)"')
    missing: list[str] = Field(description="files its loader reads that a partial download lacks")
    size_gb: float = Field(description="what allow_patterns select in the repository")
    allow_patterns: list[str]
    ignore_patterns: list[str]
    vram_gb: float | None
    licence: str
    licence_url: str
    commercial_use: Literal["yes", "no", "paid-licence"]
    licence_note: str


class ModelList(Strict):
    models: list[Model]


class Health(Strict):
    ok: bool
    version: str
