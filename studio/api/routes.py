"""`/api/v1`: submit a shoot or a cut-out and get its id at once (202), then poll it or be
called back; download its files; cancel, retry, review. Every call needs a key
(`Authorization: Bearer …`). The routes call the same app-layer functions as the page
and the CLI; the server's worker runs the jobs, so no request waits for one.

The API is its own FastAPI app (its schema at /api/v1/openapi.json, docs at
/api/v1/docs), mounted on the page's server."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from studio.api import keys as api_keys
from studio.api import webhooks
from studio.store import Store

IDEMPOTENCY_S = 24 * 3600
SHOOT_PARAMS = {"scene": str, "variants": int, "engine": str, "preset": str, "extra_prompt": str, "seed": int,
                "long_side": int, "view": str, "clip": str, "callback_url": str}
CLIP_PARAMS = {"preset": str, "seconds": (int, float), "fps": int, "motion": str, "variant": int, "seed": int, "engine": str,
               "callback_url": str}
CUTOUT_PARAMS = {"backend": str, "callback_url": str}
REVIEW_ACTIONS = ("accept", "reject")
MAX_BATCH = 100


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers or {}


def _error(status: int, message: str, field: str | None = None, headers: dict | None = None) -> ApiError:
    return ApiError(status, message, field, headers)


def _links(job_id: str) -> dict:
    return {"self": f"/api/v1/jobs/{job_id}", "cancel": f"/api/v1/jobs/{job_id}/cancel",
            "retry": f"/api/v1/jobs/{job_id}/retry"}


def _parse_params(raw: str | None, allowed: dict[str, type | tuple[type, ...]]) -> dict:
    """The `params` part: a JSON object of known keys with values of the right type."""
    if not raw:
        return {}
    try:
        params = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _error(422, f"params is not JSON ({exc.msg})", "params") from exc
    if not isinstance(params, dict):
        raise _error(422, "params must be a JSON object", "params")
    for key, value in params.items():
        if key not in allowed:
            raise _error(422, f"unknown parameter {key!r}; known: {', '.join(sorted(allowed))}", key)
        want = allowed[key]
        if value is not None and (not isinstance(value, want) or (want is not str and isinstance(value, bool))):
            kind = {int: "a whole number", str: "a string"}.get(want, "a number")
            raise _error(422, f"{key} must be {kind}", key)
    return {k: v for k, v in params.items() if v is not None}


def build_api(store: Store) -> FastAPI:
    """The API app over `store` (the server's); its worker runs what it queues."""
    from studio.config import load_settings

    api = FastAPI(title="Studio job API", version="1", docs_url="/docs", openapi_url="/openapi.json",
                  description="Submit a shoot or a cut-out, get its id at once, poll it or be called back.")
    api.state.store = store

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input (a photo's bytes): name the field instead
        first = exc.errors()[0] if exc.errors() else {}
        field = str(first.get("loc", ["", "request"])[-1])
        what = "a photo file part is missing (multipart form, part name 'photo', with a file name)" \
            if field in ("photo", "photos") else f"{field}: {first.get('msg', 'invalid')}"
        return JSONResponse({"error": what, "field": field}, status_code=422)

    @api.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"error": exc.message}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    def owned(job_id: str, key: api_keys.ApiKey) -> None:
        from studio.pipeline.queries import api_job_owner

        exists, owner = api_job_owner(store, job_id)
        # a key sees the jobs submitted with it only (not another key's, nor the page's)
        if not exists or owner != key.id:
            raise _error(404, f"no job {job_id}")

    def check_room(key: api_keys.ApiKey) -> None:
        limit = load_settings().api_max_in_flight
        from studio.pipeline.queries import api_jobs_in_flight

        n = api_jobs_in_flight(store, key.id)
        if n >= limit:
            raise _error(429, f"{n} jobs of this key are queued or running (the limit is {limit}); try again later",
                         headers={"Retry-After": "5"})

    def remembered(key: api_keys.ApiKey, idem: str | None, body_hash: str) -> str | None:
        if not idem:
            return None
        row = store.one("SELECT body_hash, job_id, created_at FROM api_idempotency WHERE key_id = ? AND idem_key = ?",
                        (key.id, idem))
        if row is None or time.time() - row["created_at"] > IDEMPOTENCY_S:
            return None
        if row["body_hash"] != body_hash:
            raise _error(422, "this Idempotency-Key was used with another request body", "Idempotency-Key")
        return row["job_id"]

    def register(key: api_keys.ApiKey, job_id: str, callback: str | None, idem: str | None, body_hash: str) -> None:
        with store.tx() as conn:
            conn.execute("INSERT INTO api_jobs(job_id, key_id, callback_url) VALUES (?,?,?)", (job_id, key.id, callback))
            if idem:
                conn.execute("INSERT OR REPLACE INTO api_idempotency(key_id, idem_key, body_hash, job_id, created_at) "
                             "VALUES (?,?,?,?,?)", (key.id, idem, body_hash, job_id, time.time()))

    async def read_upload(photo: UploadFile) -> tuple[Path, bytes]:
        limit = load_settings().limits.max_upload_bytes
        data = await photo.read(limit + 1)
        if len(data) > limit:
            raise _error(413, f"the photo is over the {limit / 1e6:.0f} MB upload limit", "photo")
        from studio.paths import safe_name

        name = safe_name(Path(photo.filename or "").name) or "photo"  # a name, never a path (nor "..")
        folder = Path(tempfile.mkdtemp(prefix="studio-api-"))
        path = folder / name
        path.write_bytes(data)
        return path, data

    def callback_of(params: dict) -> str | None:
        url = params.pop("callback_url", None)
        if url is None:
            return None
        try:
            return webhooks.check_url(url, load_settings().api_private_callbacks)
        except webhooks.CallbackRefused as exc:
            raise _error(422, str(exc), "callback_url") from exc

    def accepted(job_id: str, again: bool = False) -> JSONResponse:
        from studio.pipeline import jobs

        status = jobs.get_job(store, job_id)["status"]
        return JSONResponse({"id": job_id, "status": status, "links": _links(job_id), "replayed": again},
                            status_code=200 if again else 202, headers={"Location": f"/api/v1/jobs/{job_id}"})

    async def submit(kind: str, key: api_keys.ApiKey, photo: UploadFile, params_raw: str | None,
                     idem: str | None) -> JSONResponse:
        from studio.app.cutout import submit_cutout
        from studio.app.shoot import FlowError, submit_shoot
        from studio.imaging.io import IngestError
        from studio.scenes import SceneError

        params = _parse_params(params_raw, SHOOT_PARAMS if kind == "shoot" else CUTOUT_PARAMS)
        path, data = await read_upload(photo)
        body_hash = hashlib.sha256(kind.encode() + data + json.dumps(params, sort_keys=True).encode()).hexdigest()

        def make() -> str:
            try:
                if kind == "cutout":
                    return submit_cutout(store, path, params.get("backend", "auto"))
                if "clip" in params:  # a clip preset: the classic clip of the chosen shot, after its export
                    from studio.app.clip import clip_params

                    params["clip"] = clip_params(params["clip"])
                return submit_shoot(store, path, **params)
            except IngestError as exc:
                raise _error(422, exc.message, "photo") from exc
            except (SceneError, FlowError, ValueError) as exc:
                raise _error(422, str(exc), _field_named(str(exc), params)) from exc

        try:
            return queue(key, idem, body_hash, params, make)
        finally:  # the upload was stored as an artifact, or refused: either way its file goes
            path.unlink(missing_ok=True)
            path.parent.rmdir()

    def queue(key: api_keys.ApiKey, idem: str | None, body_hash: str, params: dict,
              make: Callable[[], str]) -> JSONResponse:
        """What every POST that makes a job does: a repeated idempotency key gets the first
        job back; else the callback and the key's room are checked, and the job is made
        (`make`, which raises ApiError) and recorded as the key's."""
        earlier = remembered(key, idem, body_hash)
        if earlier:
            return accepted(earlier, again=True)
        callback = callback_of(params)
        check_room(key)
        job_id = make()
        register(key, job_id, callback, idem, body_hash)
        return accepted(job_id)

    @api.post("/shoots", status_code=202, summary="Queue a shoot of a photo")
    async def post_shoot(key: Caller, photo: Annotated[UploadFile, File()],
                         params: Annotated[str | None, Form(description="JSON object: scene, variants, engine, "
                                                                        "preset, extra_prompt, seed, long_side, "
                                                                        "view, callback_url")] = None,
                         idempotency_key: Annotated[str | None, Header()] = None) -> JSONResponse:
        return await submit("shoot", key, photo, params, idempotency_key)

    @api.post("/cutouts", status_code=202, summary="Queue a cut-out of a photo")
    async def post_cutout(key: Caller, photo: Annotated[UploadFile, File()],
                          params: Annotated[str | None, Form(description="JSON object: backend, callback_url")] = None,
                          idempotency_key: Annotated[str | None, Header()] = None) -> JSONResponse:
        return await submit("cutout", key, photo, params, idempotency_key)

    @api.post("/batches", status_code=202, summary="Queue a shoot of each of several photos, with the same params")
    async def post_batch(key: Caller, photos: Annotated[list[UploadFile], File()],
                         params: Annotated[str | None, Form(description="JSON object, as for /shoots")] = None,
                         idempotency_key: Annotated[str | None, Header()] = None) -> JSONResponse:
        if not 1 <= len(photos) <= MAX_BATCH:
            raise _error(422, f"a batch takes 1 to {MAX_BATCH} photos", "photos")
        parsed = _parse_params(params, SHOOT_PARAMS)
        limit = load_settings().api_max_in_flight
        if len(photos) > limit:
            raise _error(422, f"{len(photos)} photos is more than the {limit} jobs a key may have in flight",
                         "photos")
        out = []
        for i, photo in enumerate(photos):
            idem = f"{idempotency_key}#{i}" if idempotency_key else None
            r = await submit("shoot", key, photo, json.dumps(parsed), idem)
            out.append(json.loads(r.body))
        return JSONResponse({"jobs": out}, status_code=202)

    @api.post("/jobs/{job_id}/clips", status_code=202, summary="Queue a clip (MP4) of a finished shoot")
    def post_clip(job_id: str, key: Caller, body: dict | None = None,
                  idempotency_key: Annotated[str | None, Header()] = None) -> JSONResponse:
        from studio.app.clip import submit_clip
        from studio.pipeline.jobs import JobError

        owned(job_id, key)
        params = _parse_params(json.dumps(body or {}), CLIP_PARAMS)
        body_hash = hashlib.sha256(b"clip" + job_id.encode() + json.dumps(params, sort_keys=True).encode()).hexdigest()

        def make() -> str:
            try:
                return submit_clip(store, job_id, **params)
            except JobError as exc:
                raise _error(409, str(exc)) from exc
            except (ValueError, RuntimeError) as exc:
                raise _error(422, str(exc), _field_named(str(exc), params)) from exc

        return queue(key, idempotency_key, body_hash, params, make)

    @api.get("/jobs", summary="Jobs submitted with this key, newest first")
    def get_jobs(key: Caller, status: str | None = None, limit: int = 50) -> dict:
        from studio.pipeline.queries import api_job_list

        rows = api_job_list(store, key.id, status, max(1, min(limit, 500)))
        return {"jobs": [{**r, "links": _links(r["id"])} for r in rows]}

    @api.get("/jobs/{job_id}", summary="A job: status, stages, cost, and when done its variants and files")
    def get_job(job_id: str, key: Caller) -> dict:
        owned(job_id, key)
        return job_view(store, job_id)

    @api.get("/jobs/{job_id}/files/{name}", summary="A file the job exported")
    def get_file(job_id: str, name: str, key: Caller) -> Response:
        owned(job_id, key)
        files = _files(store, job_id)
        if name not in files:
            raise _error(404, f"job {job_id} has no file {name!r}")
        data, media = files[name]()
        return Response(content=data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def act(job_id: str, key: api_keys.ApiKey, action) -> dict:
        """cancel or retry, for the key's own job; a job in the wrong state is a 409."""
        from studio.app.context import ledger
        from studio.pipeline.jobs import JobError, get_job

        owned(job_id, key)
        try:
            action(store, job_id, ledger(store))
        except JobError as exc:
            raise _error(409, str(exc)) from exc
        return {"id": job_id, "status": get_job(store, job_id)["status"], "links": _links(job_id)}

    @api.post("/jobs/{job_id}/cancel", summary="Cancel a queued or running job")
    def post_cancel(job_id: str, key: Caller) -> dict:
        from studio.app.history import cancel

        return act(job_id, key, cancel)

    @api.post("/jobs/{job_id}/retry", summary="Run a failed, cancelled or interrupted job again from where it stopped")
    def post_retry(job_id: str, key: Caller) -> dict:
        from studio.app.history import retry

        return act(job_id, key, retry)

    @api.post("/jobs/{job_id}/review", summary="Decide a job waiting for review: accept a variant, or reject")
    def post_review(job_id: str, key: Caller, decision: dict) -> dict:
        from studio.app import review

        owned(job_id, key)
        action = decision.get("action")
        if action not in REVIEW_ACTIONS:
            raise _error(422, "action must be accept or reject", "action")
        try:
            if action == "accept":
                variant = decision.get("variant")
                if not isinstance(variant, int) or isinstance(variant, bool):
                    raise _error(422, "accept needs the variant's index (a whole number)", "variant")
                review.accept(store, job_id, variant)
            else:
                review.reject(store, job_id, str(decision.get("note", ""))[:500])
        except ValueError as exc:
            raise _error(409, str(exc)) from exc
        return {"id": job_id, "status": "accepted" if action == "accept" else "rejected", "links": _links(job_id)}

    @api.get("/scenes", summary="The scenes a shoot can use")
    def get_scenes(key: Caller) -> dict:
        from studio.scenes import load_scenes

        return {"scenes": [{"id": s.id, "title": s.title, "category": s.category} for s in
                           load_scenes(errors=[]).values()]}

    @api.get("/models", summary="Models: installed or not, and their licences")
    def get_models(key: Caller) -> dict:
        from studio.models.registry import model_table

        return {"models": [{k: v for k, v in m.items() if k != "path"} for m in model_table()]}

    @api.get("/health", summary="Is the server up (no key needed)")
    def get_health() -> dict:
        return {"ok": True, "version": "1"}

    return api


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> api_keys.ApiKey:
    """The key the call was made with. From this computer, when the settings say keys
    are not needed there, a stand-in key is used."""
    from studio.config import load_settings

    store = request.app.state.store
    token = authorization.removeprefix("Bearer ").strip() if authorization else ""
    if token:
        key = api_keys.verify(store, token)
        if key is None:
            raise _error(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        return key
    host = request.client.host if request.client else ""
    if host in ("127.0.0.1", "::1") and not load_settings().api_keys_on_loopback:
        return _loopback_key(store)
    raise _error(401, "an API key is needed: Authorization: Bearer <key> (studio api-key create NAME)",
                 headers={"WWW-Authenticate": "Bearer"})


Caller = Annotated[api_keys.ApiKey, Depends(caller)]


def _field_named(message: str, params: dict) -> str | None:
    """The parameter a refusal is about, when its message names one."""
    low = message.lower()
    for key in sorted(params, key=len, reverse=True):
        if key.replace("_", " ") in low or key in low:
            return key
    for key in ("scene", "preset", "variants", "engine", "seed", "view"):
        if key in low:
            return key
    return None


_LOOPBACK_KEY_NAME = "(this computer)"


def _loopback_key(store: Store) -> api_keys.ApiKey:
    """The stand-in key for calls from this computer when keys are off there: a real row
    (jobs need an owner) that no bearer token matches."""
    row = store.one("SELECT id, name, webhook_secret FROM api_keys WHERE name = ? AND hash = ?",
                    (_LOOPBACK_KEY_NAME, "loopback"))
    if row is None:
        import secrets

        with store.tx() as conn:
            conn.execute("INSERT OR IGNORE INTO api_keys(id, name, hash, webhook_secret, created_at) VALUES (?,?,?,?,?)",
                         ("loopback", _LOOPBACK_KEY_NAME, "loopback", "whsec_" + secrets.token_urlsafe(24),
                          time.time()))
        row = store.one("SELECT id, name, webhook_secret FROM api_keys WHERE id = 'loopback'")
    return api_keys.ApiKey(row["id"], row["name"], row["webhook_secret"])


_MEDIA = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def _files(store: Store, job_id: str) -> dict:
    """{file name: () -> (bytes, media type)} of what the job exported (a shoot's shots
    and its clip, a cut-out's PNG); each file is read only when asked for."""
    from studio.app.shoot import EXT
    from studio.pipeline import jobs, keys, queries

    job = jobs.get_job(store, job_id)
    if job["status"] != "done":
        return {}
    params = json.loads(job["params"])
    stem = Path(params.get("photo_name", "photo")).stem or "photo"
    out: dict = {}
    if job["recipe"] == "shoot":
        for i in range(int(params.get("variants", 0))):
            ext = EXT[queries.stage_output(store, job_id, keys.export(i), only=("format",))["format"]]
            out[f"{stem}_{i}.{ext}"] = partial(_shot_file, store, job_id, i)
        if params.get("clip"):
            preset = params["clip"]["preset"]
            out[f"{stem}_{preset}.mp4"] = partial(_clip_file, store, job_id, "video", "video/mp4")
            out[f"{stem}_{preset}_preview.webp"] = partial(_clip_file, store, job_id, "preview", "image/webp")
    elif job["recipe"] == "cutout":
        out[f"{stem}.png"] = partial(_cutout_file, store, job_id)
    return out


def _shot_file(store: Store, job_id: str, index: int) -> tuple[bytes, str]:
    from studio.app.shoot import exported

    data, ext = exported(store, job_id, index)
    return data, _MEDIA[ext]


def _clip_file(store: Store, job_id: str, part: str, media_type: str) -> tuple[bytes, str]:
    from studio.app.clip import clip_result

    return clip_result(store, job_id, only=(part,))[part], media_type


def _cutout_file(store: Store, job_id: str) -> tuple[bytes, str]:
    import io

    from studio.app.cutout import cutout_result

    buf = io.BytesIO()
    cutout_result(store, job_id)["cutout"].save(buf, format="PNG")
    return buf.getvalue(), "image/png"


def job_view(store: Store, job_id: str) -> dict:
    """What GET /jobs/{id} answers (and a webhook sends)."""
    from studio.app.history import job_detail
    from studio.app.shoot import shoot_summary, waiting_for_review

    d = job_detail(store, job_id)
    status = d["status"]
    out: dict = {"id": job_id, "kind": d.get("recipe"), "status": status, "attempts": d.get("failed_attempts"),
                 "waiting_for_review": status == "waiting" and waiting_for_review(store, job_id),
                 "created_at": d.get("created_at"), "finished_at": d.get("finished_at"), "error": d.get("error"),
                 "cost": d.get("cost") or 0.0,
                 "stages": [{"key": s["key"], "status": s["status"], "attempt": s["attempt"],
                             "duration_s": s["duration_s"], "error": s["error"]} for s in d["stages"]],
                 "links": _links(job_id), "webhooks": webhooks.deliveries(store, job_id)}
    done = sum(s["status"] == "done" for s in d["stages"])
    out["progress"] = round(done / max(1, len(d["stages"])), 3)
    files = _files(store, job_id)
    out["files"] = [f"/api/v1/jobs/{job_id}/files/{name}" for name in files]
    if d.get("recipe") == "shoot" and status == "done":
        summary = shoot_summary(store, job_id)
        names = list(files)
        out["chosen"] = summary.get("chosen")
        out["variants"] = [{"index": v["index"], "seed": v["seed"], "rank": v["rank"], "scores": v["scores"],
                            "verdict": v["gate"], "compliance_ok": v["compliance"]["ok"],
                            "file": f"/api/v1/jobs/{job_id}/files/{names[v['index']]}" if v["index"] < len(names)
                            else None} for v in summary["variants"]]
        if d["params"].get("clip"):
            from studio.app.clip import CLIP_FACTS, clip_result

            clip = clip_result(store, job_id, only=CLIP_FACTS)
            out["clip"] = {"settings": clip["settings"], "report": clip["report"], "product": clip["product"],
                           "file": next(f for f in out["files"] if f.endswith(".mp4")),
                           "preview": next(f for f in out["files"] if f.endswith("_preview.webp"))}
    return out
