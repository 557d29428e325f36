"""Backdrop and reference photos through the job API (issue 31): file parts `backdrop`
and `reference` on /shoots, one backdrop for a whole /batches call, and CSV catalogs
over /batches with their photos, checked whole before any job is made."""

from __future__ import annotations

import io
import json

from PIL import Image

from tests.backdrops import table_photo
from tests.test_api import photo_bytes, server, wait  # noqa: F401


def png(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


CLASSIC = {"engine": "classic", "variants": 1, "long_side": 512}


def test_a_shoot_on_the_sellers_backdrop_with_a_reference(server, studio_home):  # noqa: F811
    client, _, _ = server
    files = {"photo": ("bottle.jpg", photo_bytes(), "image/jpeg"),
             "backdrop": ("my table.png", png(table_photo(800, 600, 0.55, 180.0)), "image/png"),
             "reference": ("mood.png", png(table_photo(320, 320, 0.5, 90.0)), "image/png")}
    r = client.post("/shoots", files=files, data={"params": json.dumps({**CLASSIC, "light_match": 0.5})})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["id"], timeout=120)
    assert job["status"] == "done", job
    assert job["scene"].startswith("backdrop-")
    assert (studio_home / "scenes" / f"{job['scene']}.toml").is_file()  # saved as the seller's scene
    listed = {s["id"]: s for s in client.get("/scenes").json()["scenes"]}
    assert listed[job["scene"]]["backdrop"] and not listed["marble"]["backdrop"]


def test_bad_backdrop_or_reference_parts_are_422_naming_the_part_and_make_nothing(server):  # noqa: F811
    client, _, _ = server
    for part in ("backdrop", "reference"):
        files = {"photo": ("bottle.jpg", photo_bytes(), "image/jpeg"), part: ("x.jpg", b"not a photo", "image/jpeg")}
        r = client.post("/shoots", files=files, data={"params": json.dumps(CLASSIC)})
        assert r.status_code == 422 and r.json()["field"] == part, r.text
    assert client.get("/jobs").json()["jobs"] == []
    r = client.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg")},
                    data={"params": json.dumps({**CLASSIC, "light_match": 2})})
    assert r.status_code == 422 and "light_match" in r.text


def test_a_csv_catalog_over_the_api_with_sizes_and_one_backdrop(server):  # noqa: F811
    client, _, _ = server
    catalog = "sku,image,size_cm\nTALL,tall.jpg,30\nSHORT,short.jpg,10\n"
    files = [("catalog", ("catalog.csv", catalog.encode(), "text/csv")),
             ("photos", ("tall.jpg", photo_bytes(1), "image/jpeg")),
             ("photos", ("short.jpg", photo_bytes(2), "image/jpeg")),
             ("backdrop", ("shelf.png", png(table_photo(800, 600, 0.55, 180.0)), "image/png"))]
    r = client.post("/batches", files=files, data={"params": json.dumps(CLASSIC)})
    assert r.status_code == 202, r.text
    made = [wait(client, j["id"], timeout=120) for j in r.json()["jobs"]]
    assert [j["status"] for j in made] == ["done", "done"] and made[0]["scene"] == made[1]["scene"]
    assert made[0]["scene"].startswith("backdrop-")


def test_a_catalog_that_names_a_missing_file_or_leaves_its_folder_is_refused_whole(server):  # noqa: F811
    client, _, _ = server
    for catalog in ("sku,image\nA,a.jpg\nB,missing.jpg\n", "sku,image\nA,a.jpg\nB,../../etc/passwd\n",
                    "sku,image,reference\nA,a.jpg,/etc/hostname\n", "sku,image,size_cm\nA,a.jpg,huge\n"):
        files = [("catalog", ("catalog.csv", catalog.encode(), "text/csv")),
                 ("photos", ("a.jpg", photo_bytes(1), "image/jpeg"))]
        r = client.post("/batches", files=files, data={"params": json.dumps(CLASSIC)})
        assert r.status_code == 422 and r.json()["field"] == "catalog", r.text
        assert "/etc" not in r.json()["error"] or "outside" in r.json()["error"]
    assert client.get("/jobs").json()["jobs"] == []


def test_a_callback_belongs_to_the_request_with_a_backdrop_or_a_catalog(server):  # noqa: F811
    """The callback_url param is the request's (one webhook per job it makes), never a
    shoot option: with a backdrop part and with a catalog, jobs are made and registered."""
    from tests.test_api import settings

    client, _, _ = server
    settings(api_private_callbacks=True)
    params = json.dumps({**CLASSIC, "callback_url": "http://127.0.0.1:9/hook"})
    shelf = ("shelf.png", png(table_photo(800, 600, 0.55, 180.0)), "image/png")
    r = client.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg"), "backdrop": shelf},
                    data={"params": params})
    assert r.status_code == 202, r.text
    files = [("catalog", ("catalog.csv", b"sku,image\nA,a.jpg\n", "text/csv")),
             ("photos", ("a.jpg", photo_bytes(1), "image/jpeg")), ("backdrop", shelf)]
    r = client.post("/batches", files=files, data={"params": params})
    assert r.status_code == 202, r.text
    r = client.post("/batches", files=[("photos", ("b.jpg", photo_bytes(2), "image/jpeg")), ("backdrop", shelf)],
                    data={"params": params})
    assert r.status_code == 202, r.text
    jobs = [wait(client, j["id"], timeout=120) for j in client.get("/jobs").json()["jobs"]]
    assert len(jobs) == 3 and all(j["backdrop"] for j in jobs)
    import time

    end = time.monotonic() + 60
    while time.monotonic() < end and not all(client.get(f"/jobs/{j['id']}").json()["webhooks"] for j in jobs):
        time.sleep(0.2)  # each job's callback is tried once it ends
    assert all(client.get(f"/jobs/{j['id']}").json()["webhooks"] for j in jobs)
