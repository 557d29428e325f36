"""`/api/v1`: submit a shoot or a cut-out and get its id at once (202), then poll it or be
called back; download its files; cancel, retry, review. Every call needs a key
(`Authorization: Bearer …`). The routes call the same app-layer functions as the page
and the CLI; the server's worker runs the jobs, so no request waits for one.

The API is its own FastAPI app, mounted on the page's server. Its document
(/api/v1/openapi.json, docs at /api/v1/docs) is what client generators read: typed
requests and answers (`schemas`), a bearer scheme, readable operation ids, files as
binary, and the callback in its `webhooks` section."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Header, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from studio.api import keys as api_keys
from studio.api import schemas, webhooks
from studio.api.access import caller
from studio.api.errors import ApiError, sentence
from studio.api.views import content_disposition, files, job_view, links
from studio.store import Store

log = logging.getLogger(__name__)
IDEMPOTENCY_S = 24 * 3600
MAX_BATCH = 100
MAX_PARAMS_BYTES = 16 * 1024
UPLOAD_CHUNK = 1024 * 1024
# a batch's further jobs are remembered under its Idempotency-Key, this and their index: a
# line break, which no header value can carry, so no key a caller sends names one of them
EXTRA = "\n"
KINDS = ("shoot", "cutout", "batch", "catalog", "clip")
Caller = Annotated[api_keys.ApiKey, Depends(caller)]
Idempotency = Annotated[str | None, Header(max_length=200, description="the same key and body within 24 h return "
                                                                        "the first job (200, replayed) instead of "
                                                                        "making another")]


def _errors(*codes: int) -> dict:
    return {code: {"model": schemas.Error} for code in codes}


BINARY = {"schema": {"type": "string", "format": "binary"}}
# application/octet-stream first: what openapi-python-client reads as bytes; the real
# types after it, for generators that map image/* and video/* to files (openapi-generator)
FILE_TYPES = ("application/octet-stream", "image/jpeg", "image/png", "image/webp", "video/mp4", "application/zip")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:  # no parameter needs more; 5000 digits is an attack on int()
        raise ValueError("a number with too many digits")
    return int(text)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def parse_params(raw: str | None, model: type[BaseModel]) -> dict:
    """The `params` form part: a bounded JSON object checked against `model` (ApiError
    422 naming the parameter otherwise); keys left out or null are not returned."""
    if not raw:
        return {}
    if len(raw) > MAX_PARAMS_BYTES:
        raise ApiError(422, f"params is over {MAX_PARAMS_BYTES // 1024} KB", "params")
    try:
        data = json.loads(raw, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError as exc:
        raise ApiError(422, "params is nested too deeply", "params") from exc
    except ValueError as exc:  # JSONDecodeError is one
        raise ApiError(422, f"params is not JSON ({getattr(exc, 'msg', exc)})", "params") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "params must be a JSON object", "params")
    return checked(data, model)


def checked(data: dict, model: type[BaseModel]) -> dict:
    try:
        return model.model_validate(data).model_dump(exclude_none=True)
    except ValidationError as exc:
        message, field = sentence(exc.errors()[0], sorted(model.model_fields))
        raise ApiError(422, message, field) from exc


def _field_named(message: str, params: dict) -> str | None:
    """The parameter a refusal from the app layer is about, when its message names one."""
    low = message.lower()
    for key in sorted(params, key=len, reverse=True):
        if key.replace("_", " ") in low or key in low:
            return key
    for key in ("scene", "preset", "variants", "engine", "seed", "view", "backend"):
        if key in low:
            return key
    return None


class Submissions:
    """What every POST that makes jobs does, over the server's store: idempotency claimed
    in the same transaction that makes the job, the callback URL and the key's room
    checked first, uploads read within the limit into a private temp folder."""

    def __init__(self, store: Store):
        self.store = store

    def remembered(self, key: api_keys.ApiKey, idem: str, body_hash: str) -> str | None:
        row = self.store.one("SELECT body_hash, job_id, created_at FROM api_idempotency WHERE key_id = ? AND "
                             "idem_key = ?", (key.id, idem))
        if row is None:
            return None
        from studio.pipeline.queries import job_status

        gone = job_status(self.store, row["job_id"]) is None
        if time.time() - row["created_at"] > IDEMPOTENCY_S or gone:  # expired, or its job was deleted: free again
            self.store.conn.execute("DELETE FROM api_idempotency WHERE key_id = ? AND (idem_key = ? OR "
                                    "substr(idem_key, 1, ?) = ?)", (key.id, idem, len(idem) + 1, idem + EXTRA))
            return None
        if row["body_hash"] != body_hash:
            kind, _, _ = row["body_hash"].partition(":")
            what = f"a {kind} request" if kind in KINDS and kind != body_hash.partition(":")[0] else \
                "another request body"
            raise ApiError(422, f"this Idempotency-Key was used with {what}; use a new key for this request",
                           "Idempotency-Key")
        return row["job_id"]

    def check_room(self, key: api_keys.ApiKey, more: int = 1) -> None:
        from studio.api.admission import check_room
        from studio.config import data_dir, load_settings

        check_room(self.store, key.id, more, load_settings().api_queue_depth, data_dir())

    @staticmethod
    def callback_of(params: dict) -> str | None:
        from studio.config import load_settings

        url = params.pop("callback_url", None)
        if url is None:
            return None
        try:
            return webhooks.check_url(url, load_settings().api_private_callbacks)
        except webhooks.CallbackRefused as exc:
            raise ApiError(422, str(exc), "callback_url") from exc

    def register(self, conn, key: api_keys.ApiKey, job_id: str, callback: str | None, idem: str | None,
                 body_hash: str) -> None:
        conn.execute("INSERT INTO api_jobs(job_id, key_id, callback_url) VALUES (?,?,?)", (job_id, key.id, callback))
        if idem:
            conn.execute("INSERT OR REPLACE INTO api_idempotency(key_id, idem_key, body_hash, job_id, created_at) "
                         "VALUES (?,?,?,?,?)", (key.id, idem, body_hash, job_id, time.time()))

    def queue(self, key: api_keys.ApiKey, idem: str | None, body_hash: str, params: dict,
              make: Callable[[], list[str]], count: int = 1) -> tuple[list[str], bool]:
        """(job ids, replayed): an idempotency key seen with this body gets its jobs back;
        else the callback and room are checked and `make` runs, all in one transaction
        (two requests racing with one key make one job)."""
        with self.store.tx() as conn:
            if idem:
                earlier = self.remembered(key, idem, body_hash)
                if earlier:
                    extra = [r["job_id"] for r in conn.execute(
                        "SELECT job_id FROM api_idempotency WHERE key_id = ? AND substr(idem_key, 1, ?) = ? "
                        "ORDER BY CAST(substr(idem_key, ?) AS INTEGER)",
                        (key.id, len(idem) + 1, idem + EXTRA, len(idem) + 2))]
                    return ([earlier, *extra] if extra else [earlier]), True
            callback = self.callback_of(params)
            self.check_room(key, count)
            made = make()  # raises ApiError: the transaction, and every job it made, is rolled back
            for i, job_id in enumerate(made):
                self.register(conn, key, job_id, callback, idem if i == 0 else (f"{idem}{EXTRA}{i}" if idem else None),
                              body_hash)
        return made, False

    def accepted(self, job_ids: list[str], again: bool, batch: bool = False) -> JSONResponse:
        from studio.pipeline import jobs

        body = [{"id": j, "status": jobs.get_job(self.store, j)["status"], "links": links(j), "replayed": again}
                for j in job_ids]
        code = 200 if again else 202
        if batch:
            return JSONResponse({"jobs": body}, status_code=code)
        return JSONResponse(body[0], status_code=code, headers={"Location": f"/api/v1/jobs/{job_ids[0]}"})


class Upload:
    """An uploaded photo in a private temp folder (removed by `discard`), with the SHA-256
    of its bytes: a request holds one photo's bytes at a time, not all of them."""

    def __init__(self, path: Path, digest: bytes):
        self.path, self.digest = path, digest

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.parent.rmdir()


async def read_upload(photo: UploadFile, field: str = "photo", folder: Path | None = None) -> Upload:
    """The part copied (at most the upload limit, a chunk at a time: a request never holds
    a whole photo in memory) under its own file name into a private temp folder, or into
    `folder` (a catalog's files, which the CSV names: each needs a name of its own there)."""
    from studio.config import load_settings
    from studio.paths import safe_name

    limit = load_settings().limits.max_upload_bytes
    name = safe_name(Path(photo.filename or "").name)  # a name, never a path (nor "..")
    if folder is not None and (not name or (folder / name).exists()):
        raise ApiError(422, f"every {field} part needs its own file name ({photo.filename!r})", field)
    own = folder is None
    path = (Path(tempfile.mkdtemp(prefix="studio-api-")) / (name or "photo")) if own else folder / name
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("wb") as out:
            while chunk := await photo.read(UPLOAD_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"{photo.filename or 'the photo'} is over the {limit / 1e6:.0f} MB upload "
                                        "limit", field)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        if own:
            path.parent.rmdir()
        raise
    return Upload(path, digest.digest())


def build_api(store: Store) -> FastAPI:
    """The API app over `store` (the server's); its worker runs what it queues."""
    api = FastAPI(title="Studio job API", version="1", docs_url="/docs", openapi_url="/openapi.json",
                  description="Submit a shoot or a cut-out, get its id at once, poll it or be called back.",
                  openapi_tags=[{"name": "jobs", "description": "Submit, poll, download, cancel, retry, review"},
                                {"name": "catalog", "description": "Scenes and models this server offers"}])
    api.state.store = store
    sub = Submissions(store)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input (a photo's bytes): name the field instead
        first = exc.errors()[0] if exc.errors() else {}
        field = str(first.get("loc", ["", "request"])[-1])
        if field in ("photo", "photos"):
            what = "a photo file part is missing (multipart form, part name 'photo', with a file name)"
        elif first.get("type") == "json_invalid":  # its loc is the byte offset, not a field
            error = (first.get("ctx") or {}).get("error", "")
            what, field = f"the body is not JSON ({error}{' ' if error else ''}at byte {field})", "body"
        elif first.get("type") == "model_attributes_type" and tuple(first.get("loc", ())) == ("body",):
            what, field = "the body must be a JSON object (application/json)", "body"
        else:
            what, field = sentence(first)
        return JSONResponse({"error": what, "field": field}, status_code=422)

    @api.exception_handler(ResponseValidationError)
    async def drifted(request: Request, exc: ResponseValidationError) -> JSONResponse:
        # an answer that no longer matches the published document is never sent (clients rely on it)
        log.error("%s %s: the answer does not match its declared schema: %s", request.method, request.url.path,
                  exc.errors()[:3])
        return JSONResponse({"error": "the server's answer did not match its published schema (a bug in Studio; "
                                      "the server log has the details)"}, status_code=500)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body it cannot parse, a method not allowed) in the one error shape
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @api.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        body = {"error": exc.message}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    def owned(job_id: str, key: api_keys.ApiKey) -> None:
        from studio.pipeline.queries import api_job_owner

        exists, owner = api_job_owner(store, job_id)
        # a key sees the jobs submitted with it only (not another key's, nor the page's)
        if not exists or owner != key.id:
            raise ApiError(404, f"no job {job_id}")

    def shoot_of(photo: Path, params: dict, reference: bytes | Path | None = None) -> Callable[[], str]:
        """A shoot of the photo, with a reference photo kept with the job."""

        def make() -> str:
            from studio.app.backdrops import BackdropError
            from studio.app.shoot import FlowError, submit_shoot
            from studio.imaging.io import IngestError
            from studio.scenes import SceneError

            options = dict(params)
            try:
                if "clip" in options:  # a clip preset: the classic clip of the chosen shot, after its export
                    from studio.app.clip import clip_params

                    options["clip"] = clip_params(options["clip"])
                return submit_shoot(store, photo, reference=reference, **options)
            except IngestError as exc:
                raise ApiError(422, f"{photo.name}: {exc.message}", "photo") from exc
            except BackdropError as exc:  # the reference, or the scene's own backdrop file
                field = "reference" if str(exc).startswith("reference:") else "scene"
                raise ApiError(422, str(exc), field) from exc
            except (SceneError, FlowError, ValueError) as exc:
                raise ApiError(422, str(exc), _field_named(str(exc), params)) from exc

        return make

    def backdrop_of(upload: Upload):
        """A backdrop part decoded and checked as its scene keeps it (nothing saved yet)."""
        from studio.app.backdrops import BackdropError, backdrop_for_photo

        try:
            return backdrop_for_photo(upload.path, upload.path.name)
        except BackdropError as exc:
            raise ApiError(422, str(exc), "backdrop") from exc

    def check_scene(key: api_keys.ApiKey, scene: str | None, field: str = "scene") -> None:
        """A scene made from another key's backdrop is not there for this key (404, as a job)."""
        from studio.app.backdrops import may_use_scene

        if scene is not None and not may_use_scene(store, scene, key.id):
            raise ApiError(404, f"no scene {scene!r}; GET /api/v1/scenes lists them", field)

    def with_backdrops(key: api_keys.ApiKey, kept: list, make: Callable[[], list[str]]) -> Callable[[], list[str]]:
        """`make`, after the request's backdrop scenes are saved as this key's (in the
        job's transaction: a refused request leaves neither their rows nor their files)."""
        from studio.app.backdrops import BackdropError, keep_for_key, remove_scene_files

        def run() -> list[str]:
            made_now = []
            try:
                for k in kept:
                    try:
                        scene, made = keep_for_key(store, k, key.id)
                    except BackdropError as exc:
                        raise ApiError(422, str(exc), "backdrop") from exc
                    if made:
                        made_now.append(scene)
                return make()
            except BaseException:
                for scene in made_now:
                    remove_scene_files(scene)
                raise

        return run

    def check_photo(upload: Upload, field: str) -> None:
        from studio.config import load_settings
        from studio.imaging.io import IngestError, ingest_file

        try:
            ingest_file(upload.path, load_settings().limits, check_only=True)
        except IngestError as exc:  # its message names the file
            raise ApiError(422, exc.message, field) from exc

    def body_hash(kind: str, params: dict, *digests: bytes) -> str:
        """The request's kind (shoot, batch, …: a key reused on another route is named in
        the refusal) and a hash of its params and parts' SHA-256 digests."""
        h = hashlib.sha256(kind.encode() + json.dumps(params, sort_keys=True).encode())
        for d in digests:
            h.update(d)
        return f"{kind.partition(':')[0]}:{h.hexdigest()}"

    @api.post("/shoots", status_code=202, response_model=schemas.Accepted, tags=["jobs"], operation_id="createShoot",
              summary="Queue a shoot of a photo", responses={200: {"model": schemas.Accepted,
                                                                   "description": "replayed (Idempotency-Key)"},
                                                              **_errors(401, 413, 422, 429)})
    async def create_shoot(key: Caller, photo: Annotated[UploadFile, File(description="the product photo")],
                           params: Annotated[str | None, Form(description="a JSON object (ShootParams)")] = None,
                           backdrop: Annotated[UploadFile | None, File(
                               description="your own backdrop photo: the product stands on it (saved as one of "
                                           "your scenes, named backdrop-…; `scene` is then ignored)")] = None,
                           reference: Annotated[UploadFile | None, File(
                               description="a photo whose look the scene should have (klein 4B takes it as its "
                                           "reference image; other engines use its colours)")] = None,
                           idempotency_key: Idempotency = None) -> JSONResponse:
        options = parse_params(params, schemas.ShootParams)
        if backdrop is None:
            check_scene(key, options.get("scene"))
        uploads = [await read_upload(photo)]
        try:
            parts = {}
            for part, field in ((backdrop, "backdrop"), (reference, "reference")):
                if part is not None:
                    parts[field] = await read_upload(part, field)
                    uploads.append(parts[field])
            shot = dict(options)
            kept = []
            if "backdrop" in parts:  # the backdrop's scene wins over a scene named in params
                kept.append(await run_in_threadpool(backdrop_of, parts["backdrop"]))
                shot["scene"] = kept[0].scene_id
            ref = parts["reference"].path if "reference" in parts else None
            made, again = await run_in_threadpool(sub.queue, key, idempotency_key,
                                                  body_hash("shoot", options, *(u.digest for u in uploads)), shot,
                                                  with_backdrops(key, kept,
                                                                 lambda: [shoot_of(uploads[0].path, shot, ref)()]))
            return sub.accepted(made, again)
        finally:  # the uploads were stored as artifacts, or refused: either way their files go
            for u in uploads:
                u.discard()

    @api.post("/cutouts", status_code=202, response_model=schemas.Accepted, tags=["jobs"],
              operation_id="createCutout", summary="Queue a cut-out of a photo",
              responses={200: {"model": schemas.Accepted, "description": "replayed (Idempotency-Key)"},
                         **_errors(401, 413, 422, 429)})
    async def create_cutout(key: Caller, photo: Annotated[UploadFile, File(description="the product photo")],
                            params: Annotated[str | None, Form(description="a JSON object (CutoutParams)")] = None,
                            idempotency_key: Idempotency = None) -> JSONResponse:
        from studio.app.engines import segmenter_choices

        options = parse_params(params, schemas.CutoutParams)
        backend = options.get("backend", "auto")
        if backend not in segmenter_choices():
            raise ApiError(422, f"backend must be one of {', '.join(segmenter_choices())}", "backend")
        upload = await read_upload(photo)

        def make() -> list[str]:
            from studio.app.cutout import submit_cutout
            from studio.imaging.io import IngestError

            try:
                return [submit_cutout(store, upload.path, backend)]
            except IngestError as exc:
                raise ApiError(422, f"{upload.path.name}: {exc.message}", "photo") from exc

        try:
            made, again = await run_in_threadpool(sub.queue, key, idempotency_key,
                                                  body_hash("cutout", options, upload.digest), options, make)
            return sub.accepted(made, again)
        finally:
            upload.discard()

    @api.post("/batches", status_code=202, response_model=schemas.BatchAccepted, tags=["jobs"],
              operation_id="createBatch", summary="Queue a shoot of each of several photos, with the same params",
              description="Every photo and parameter is checked before any job is made: a bad photo or a full "
                          "queue refuses the whole batch, and nothing is queued.",
              responses={200: {"model": schemas.BatchAccepted, "description": "replayed (Idempotency-Key)"},
                         **_errors(401, 413, 422, 429)})
    async def create_batch(key: Caller, photos: Annotated[list[UploadFile], File(
                               description="one photo per SKU; with a catalog, every file it names (product photos, "
                                           "backdrops, references), under the names it gives")],
                           params: Annotated[str | None, Form(description="a JSON object (ShootParams)")] = None,
                           catalog: Annotated[UploadFile | None, File(
                               description="a CSV catalog: sku, image, and optionally scene, preset, variants, "
                                           "backdrop, reference, size_cm (as `studio batch` reads it); its file "
                                           "names are those of the photos parts")] = None,
                           backdrop: Annotated[UploadFile | None, File(
                               description="one backdrop photo for every SKU (each on the same spot)")] = None,
                           idempotency_key: Idempotency = None) -> JSONResponse:
        if not 1 <= len(photos) <= MAX_BATCH:
            raise ApiError(422, f"a batch takes 1 to {MAX_BATCH} photos", "photos")
        options = parse_params(params, schemas.ShootParams)
        if catalog is not None:
            return await catalog_batch(key, catalog, photos, backdrop, options, idempotency_key)
        if backdrop is None:
            check_scene(key, options.get("scene"))
        uploads: list[Upload] = []
        try:
            shot = dict(options)
            kept = []
            if backdrop is not None:  # one scene for every SKU, made once
                uploads.append(await read_upload(backdrop, "backdrop"))
                kept.append(await run_in_threadpool(backdrop_of, uploads[0]))
                shot["scene"] = kept[0].scene_id
            shots = []
            for photo in photos:  # each photo checked as it is read: a bad one stops the request there
                shots.append(await read_upload(photo, "photos"))
                uploads.append(shots[-1])
                await run_in_threadpool(check_photo, shots[-1], "photos")
            made, again = await run_in_threadpool(
                sub.queue, key, idempotency_key, body_hash("batch", options, *(u.digest for u in uploads)), shot,
                with_backdrops(key, kept, lambda: [shoot_of(u.path, shot)() for u in shots]), len(shots))
            return sub.accepted(made, again, batch=True)
        finally:
            for u in uploads:
                u.discard()

    async def catalog_batch(key: api_keys.ApiKey, catalog: UploadFile, photos: list[UploadFile],
                            backdrop: UploadFile | None, options: dict, idempotency_key: str | None) -> JSONResponse:
        """A CSV catalog with its files: checked whole (every row, photo, backdrop and
        reference, as `studio batch` checks a CSV) before any job is made."""
        import shutil

        if backdrop is None:
            check_scene(key, options.get("scene"))
        text = await catalog.read(4 * 1024 * 1024 + 1)
        if len(text) > 4 * 1024 * 1024:
            raise ApiError(413, "the catalog is over 4 MB", "catalog")
        count_rows(text)
        folder = Path(tempfile.mkdtemp(prefix="studio-api-catalog-"))
        try:
            files = [await read_upload(part, "photos", folder) for part in photos]
            (folder / "catalog.csv").write_bytes(text)
            shot = dict(options)
            shared, kept = [], []
            if backdrop is not None:  # for the rows without a backdrop of their own
                shared.append(await read_upload(backdrop, "backdrop"))
                try:
                    kept.append(await run_in_threadpool(backdrop_of, shared[0]))
                    shot["scene"] = kept[0].scene_id
                finally:
                    shared[0].discard()
            plans, rows_kept = await run_in_threadpool(catalog_plans, folder, key)
            # each row over the request's params, merged when they are made (the callback
            # has been taken out of them by then: it is the request's, not each shoot's)
            made, again = await run_in_threadpool(
                sub.queue, key, idempotency_key,
                body_hash("catalog", options, hashlib.sha256(text).digest(), *(u.digest for u in files + shared)),
                shot, with_backdrops(key, kept + rows_kept,
                                     lambda: [shoot_of(photo, {**shot, **row}, ref)() for photo, row, ref in plans]),
                len(plans))
            return sub.accepted(made, again, batch=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def count_rows(text: bytes) -> None:
        """A catalog of more rows than a batch takes is refused before any row is read
        (its records counted, not parsed: a 100k-row CSV is refused in milliseconds)."""
        import csv
        import io
        from itertools import islice

        lines = io.StringIO(text.decode("utf-8-sig", errors="replace"), newline="")
        records = sum(1 for row in islice(csv.reader(lines), MAX_BATCH + 2) if any(c.strip() for c in row))
        if records > MAX_BATCH + 1:  # the header and MAX_BATCH rows
            raise ApiError(422, f"the catalog has more than {MAX_BATCH} rows; a batch takes 1 to {MAX_BATCH}",
                           "catalog")

    def catalog_plans(folder: Path, key: api_keys.ApiKey) -> tuple[list[tuple[Path, dict, Path | None]], list]:
        """(photo, what its row sets over the request's params, its reference) per row, and
        the rows' backdrops (checked, not yet saved); the whole catalog refused (422, every
        problem listed) when anything in it is wrong. Paths in the CSV must name files sent
        with it: nothing outside the request's own folder is read. A row's own backdrop wins
        over the one sent for every SKU; a row's scene must be one this key may use."""
        from studio.app.backdrops import BackdropError, backdrop_for_photo, may_use_scene
        from studio.app.batch_input import read_input

        checked = read_input(folder / "catalog.csv", roots=[folder])
        problems = checked.problems()
        if len(checked.items) > MAX_BATCH:
            problems.append(f"a batch takes 1 to {MAX_BATCH} rows")
        sizes = [it.size_cm for it in checked.items if it.size_cm]
        plans, kept = [], {}
        for it in checked.items:
            opts: dict = {}
            for k, v in (("scene", it.scene), ("preset", it.preset), ("variants", it.variants)):
                if v is not None:
                    opts[k] = v
            if it.scene is not None and it.backdrop is None and not may_use_scene(store, it.scene, key.id):
                problems.append(f"row {it.row} ({it.sku}): no scene {it.scene!r}")
            if it.backdrop is not None:
                try:
                    if it.backdrop not in kept:
                        kept[it.backdrop] = backdrop_for_photo(it.backdrop, it.backdrop.name)
                    opts["scene"] = kept[it.backdrop].scene_id
                except BackdropError as exc:
                    problems.append(f"row {it.row} ({it.sku}): backdrop: {exc}")
            if it.size_cm and sizes:
                opts |= {"size_cm": it.size_cm, "size_ref_cm": max(sizes)}
            opts["title"] = it.sku
            plans.append((it.photo, opts, it.reference))
        if problems:
            raise ApiError(422, "; ".join(p.replace(str(folder) + "/", "") for p in problems[:20]), "catalog")
        return plans, list(kept.values())

    @api.post("/jobs/{job_id}/clips", status_code=202, response_model=schemas.Accepted, tags=["jobs"],
              operation_id="createClip", summary="Queue a clip (MP4) of a finished shoot",
              responses={200: {"model": schemas.Accepted, "description": "replayed (Idempotency-Key)"},
                         **_errors(401, 404, 409, 422, 429)})
    def create_clip(job_id: str, key: Caller, body: schemas.ClipRequest | None = None,
                    idempotency_key: Idempotency = None) -> JSONResponse:
        from studio.app.clip import submit_clip
        from studio.pipeline.jobs import JobError

        owned(job_id, key)
        options = body.model_dump(exclude_none=True) if body else {}

        def make() -> list[str]:
            clip = {k: v for k, v in options.items() if k != "callback_url"}
            try:
                return [submit_clip(store, job_id, **clip)]
            except JobError as exc:
                raise ApiError(409, str(exc)) from exc
            except (ValueError, RuntimeError) as exc:
                raise ApiError(422, str(exc), _field_named(str(exc), options)) from exc

        made, again = sub.queue(key, idempotency_key, body_hash("clip:" + job_id, options), options, make)
        return sub.accepted(made, again)

    @api.get("/jobs", response_model=schemas.JobList, tags=["jobs"], operation_id="listJobs",
             summary="Jobs submitted with this key, newest first", responses=_errors(401, 422))
    def list_jobs(key: Caller, status: schemas.JobStatus | None = None, limit: int = 50) -> dict:
        from studio.pipeline.queries import api_job_list

        rows = api_job_list(store, key.id, status, max(1, min(limit, 500)))
        return {"jobs": [{**r, "links": links(r["id"])} for r in rows]}

    @api.get("/jobs/{job_id}", response_model=schemas.Job, tags=["jobs"], operation_id="getJob",
             summary="A job: status, stages, cost, and when done its variants and files",
             responses=_errors(401, 404, 422))
    def get_job(job_id: str, key: Caller) -> dict:
        owned(job_id, key)
        return job_view(store, job_id)

    @api.get("/jobs/{job_id}/files/{name}", tags=["jobs"], operation_id="downloadFile", response_class=Response,
             summary="A file the job exported (its bytes)",
             responses={200: {"description": "the file", "content": {t: BINARY for t in FILE_TYPES}},
                        **_errors(401, 404, 422)})
    def download_file(job_id: str, name: str, key: Caller) -> Response:
        owned(job_id, key)
        exported = files(store, job_id)
        if name not in exported:
            raise ApiError(404, f"job {job_id} has no file {name!r}")
        data, media = exported[name]()
        return Response(content=data, media_type=media, headers={"Content-Disposition": content_disposition(name)})

    def act(job_id: str, key: api_keys.ApiKey, action) -> dict:
        """cancel or retry, for the key's own job; a job in the wrong state is a 409."""
        from studio.app.context import ledger
        from studio.pipeline.jobs import JobError, get_job

        owned(job_id, key)
        try:
            action(store, job_id, ledger(store))
        except JobError as exc:
            raise ApiError(409, str(exc)) from exc
        return {"id": job_id, "status": get_job(store, job_id)["status"], "links": links(job_id)}

    @api.post("/jobs/{job_id}/cancel", response_model=schemas.ActionResult, tags=["jobs"], operation_id="cancelJob",
              summary="Cancel a queued or running job (409 when it has ended)", responses=_errors(401, 404, 409, 422))
    def cancel_job(job_id: str, key: Caller) -> dict:
        from studio.app.history import cancel

        return act(job_id, key, cancel)

    @api.post("/jobs/{job_id}/retry", response_model=schemas.ActionResult, tags=["jobs"], operation_id="retryJob",
              summary="Run a failed, cancelled or interrupted job again from where it stopped",
              responses=_errors(401, 404, 409, 422))
    def retry_job(job_id: str, key: Caller) -> dict:
        from studio.app.history import retry

        return act(job_id, key, retry)

    @api.post("/jobs/{job_id}/review", response_model=schemas.ActionResult, tags=["jobs"],
              operation_id="reviewJob", summary="Decide a job waiting for review: accept a variant, or reject",
              responses=_errors(401, 404, 409, 422))
    def review_job(job_id: str, key: Caller, decision: schemas.ReviewDecision) -> dict:
        from studio.app import review

        owned(job_id, key)
        try:
            if decision.action == "accept":
                if decision.variant is None:
                    raise ApiError(422, "accept needs the variant's index (a whole number)", "variant")
                review.accept(store, job_id, decision.variant)
            else:
                review.reject(store, job_id, decision.note or "")
        except ValueError as exc:
            raise ApiError(409, str(exc)) from exc
        return {"id": job_id, "status": "accepted" if decision.action == "accept" else "rejected",
                "links": links(job_id)}

    @api.get("/scenes", response_model=schemas.SceneList, tags=["catalog"], operation_id="listScenes",
             summary="The scenes a shoot can use", responses=_errors(401))
    def list_scenes(key: Caller) -> dict:
        from studio.app.backdrops import scenes_for_key

        return {"scenes": [{"id": s.id, "title": s.title, "category": s.category, "backdrop": s.backdrop is not None}
                           for s in scenes_for_key(store, key.id)]}

    @api.get("/models", response_model=schemas.ModelList, tags=["catalog"], operation_id="listModels",
             summary="Models: installed or not, and their licences", responses=_errors(401))
    def list_models(key: Caller) -> dict:
        from studio.models.registry import model_table

        fields = set(schemas.Model.model_fields)
        return {"models": [{k: v for k, v in m.items() if k in fields} for m in model_table()]}

    @api.get("/health", response_model=schemas.Health, tags=["catalog"], operation_id="getHealth",
             summary="Is the server up (no key needed)")
    def get_health() -> dict:
        return {"ok": True, "version": "1"}

    @api.webhooks.post("job-ended", operation_id="jobEnded", tags=["jobs"],
                       summary="Sent to a job's callback_url when it ends",
                       description="The body is the job (as GET /jobs/{id}) when it is done, failed, cancelled or "
                                   "waiting for review. Headers: `X-Studio-Event` (job.done, job.failed, …), "
                                   "`X-Studio-Delivery` (one id per delivery, the same on its retries), "
                                   "`X-Studio-Timestamp` (Unix seconds) and `X-Studio-Signature: sha256=<hex>`, the "
                                   "HMAC-SHA256 under the key's webhook secret of `<timestamp>.<delivery>.<body>`. "
                                   f"Refuse a timestamp more than {webhooks.TOLERANCE_S} s from your clock and a "
                                   "delivery id already seen. Answer 2xx; anything else is retried after 0.5, 2 "
                                   "and 8 s.",
                       responses={200: {"description": "received"}})
    def job_ended(body: schemas.Job,
                  x_studio_signature: Annotated[str, Header()], x_studio_timestamp: Annotated[str, Header()],
                  x_studio_delivery: Annotated[str, Header()], x_studio_event: Annotated[str, Header()]) -> None:
        """Implemented by the receiver, not by Studio."""

    api.openapi = lambda: _document(api)
    return api


def _document(api: FastAPI) -> dict:
    """FastAPI's document, with the multipart parts described as generators expect them:
    files as `format: binary`, and `params` as JSON text of its own schema."""
    if api.openapi_schema:
        return api.openapi_schema
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes,
                      webhooks=api.webhooks.routes, tags=api.openapi_tags)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in (schemas.ShootParams, schemas.CutoutParams):
        components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    params_of = {"createShoot": "ShootParams", "createBatch": "ShootParams", "createCutout": "CutoutParams"}
    for path in doc["paths"].values():
        for op in path.values():
            content = op.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            if not content:
                continue
            ref = content["schema"]["$ref"].rsplit("/", 1)[-1]
            body = components[ref]
            for prop in body["properties"].values():
                _binary(prop)
            if "params" in body["properties"]:
                body["properties"]["params"] = {
                    "type": "string", "contentMediaType": "application/json",
                    "contentSchema": {"$ref": f"#/components/schemas/{params_of[op['operationId']]}"},
                    "description": f"a JSON object ({params_of[op['operationId']]}); anything left out comes from "
                                   "the server's settings"}
    for hook in doc.get("webhooks", {}).values():  # what the receiver answers: any 2xx
        for op in hook.values():
            op["responses"] = {"2XX": {"description": "received (anything else is retried)"}}
    if "HTTPValidationError" not in json.dumps({k: v for k, v in doc.items() if k != "components"}):
        for name in ("HTTPValidationError", "ValidationError"):  # every route answers 422 with Error instead
            components.pop(name, None)
    api.openapi_schema = doc
    return doc


def _binary(prop: dict) -> None:
    """An upload field as `{"type": "string", "format": "binary"}` (also inside an array)."""
    if prop.get("contentMediaType") == "application/octet-stream":
        prop.pop("contentMediaType")
        prop["format"] = "binary"
    if prop.get("type") == "array":
        _binary(prop.get("items", {}))
