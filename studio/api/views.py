"""What the API answers about a job: its JSON (GET /jobs/{id}, and the webhook's body),
and the files it exported, each read only when asked for."""

from __future__ import annotations

import json
from functools import partial
from urllib.parse import quote

from studio.api import webhooks
from studio.paths import photo_stem
from studio.store import Store


def links(job_id: str) -> dict:
    return {"self": f"/api/v1/jobs/{job_id}", "cancel": f"/api/v1/jobs/{job_id}/cancel",
            "retry": f"/api/v1/jobs/{job_id}/retry"}


def file_url(job_id: str, name: str) -> str:
    """A file's path under the API, its name percent-encoded (a photo named чашка.jpg)."""
    return f"/api/v1/jobs/{job_id}/files/{quote(name, safe='')}"


def content_disposition(name: str) -> str:
    """An attachment header any client reads: an ASCII fallback, and the real name in
    RFC 5987's UTF-8 form (raw non-ASCII bytes in a header are what broke downloads)."""
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


MEDIA = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def files(store: Store, job_id: str) -> dict:
    """{file name: () -> (bytes, media type)} of what the job exported (a shoot's shots
    and its clip, a cut-out's PNG); each file is read only when asked for."""
    from studio.app.shoot import EXT
    from studio.pipeline import jobs, keys, queries

    job = jobs.get_job(store, job_id)
    if job["status"] != "done":
        return {}
    params = json.loads(job["params"])
    stem = photo_stem(params.get("photo_name", "photo"))
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
    return data, MEDIA[ext]


def _clip_file(store: Store, job_id: str, part: str, media_type: str) -> tuple[bytes, str]:
    from studio.app.clip import clip_result

    return clip_result(store, job_id, only=(part,))[part], media_type


def _cutout_file(store: Store, job_id: str) -> tuple[bytes, str]:
    from studio.app.cutout import cutout_result
    from studio.imaging.export import cutout_png

    return cutout_png(cutout_result(store, job_id)["cutout"]), "image/png"


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
                 "links": links(job_id), "webhooks": webhooks.deliveries(store, job_id)}
    if d.get("recipe") == "shoot":
        params = d["params"]
        out |= {"scene": params.get("scene"), "backdrop": bool(params.get("backdrop")),
                "reference": bool(params.get("reference")), "light_match": params.get("light_match")}
    done = sum(s["status"] == "done" for s in d["stages"])
    out["progress"] = round(done / max(1, len(d["stages"])), 3)
    exported = files(store, job_id)
    out["files"] = [file_url(job_id, name) for name in exported]
    if d.get("recipe") == "cutout" and status == "done":
        from studio.app.cutout_advice import job_advice
        from studio.pipeline import keys, queries

        seg = queries.stage_output(store, job_id, keys.SEGMENT, only=("backend", "confidence"))
        out["cutout"] = {**seg, "advice": job_advice(store, job_id, seg)}
    if d.get("recipe") == "shoot" and status == "done":
        summary = shoot_summary(store, job_id)
        names = list(exported)
        out["chosen"] = summary.get("chosen")
        out["cutout"] = summary["cutout"]
        out["variants"] = [{"index": v["index"], "seed": v["seed"], "rank": v["rank"], "scores": v["scores"],
                            "verdict": v["gate"], "compliance_ok": v["compliance"]["ok"],
                            "compliance_caveat": v["compliance"].get("caveat"), "made": v.get("made"),
                            "file": file_url(job_id, names[v["index"]]) if v["index"] < len(names) else None} for v in summary["variants"]]
        if d["params"].get("clip"):
            from studio.app.clip import CLIP_FACTS, clip_result

            clip = clip_result(store, job_id, only=CLIP_FACTS)
            out["clip"] = {"settings": clip["settings"], "report": clip["report"], "product": clip["product"],
                           "file": next(f for f in out["files"] if f.endswith(".mp4")),
                           "preview": next(f for f in out["files"] if f.endswith("_preview.webp"))}
    return out
