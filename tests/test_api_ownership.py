"""Issue 37, the job API's side: backdrop scenes made from a key's uploads belong to that
key (listed, shot on and used in catalogs by it alone), refused requests make no scene,
an Idempotency-Key names one request whatever route it was used on, numbers are numbers,
and a request's photos are checked as they are read, its catalog's rows counted first."""

from __future__ import annotations

import json
import time
import tracemalloc

import httpx

from studio.api import keys
from tests.backdrops import table_photo
from tests.test_api import photo_bytes, server  # noqa: F401
from tests.test_api_backdrop import png

CLASSIC = {"engine": "classic", "variants": 1, "long_side": 256, "preset": "shopify"}


def other_key(client: httpx.Client) -> httpx.Client:
    from studio.app.context import open_store

    _, token, _ = keys.create(open_store(), "another shop")
    return httpx.Client(base_url=str(client.base_url), headers={"Authorization": f"Bearer {token}"}, timeout=30)


def shelf(seed: float = 180.0) -> tuple[str, bytes, str]:
    return "shelf.png", png(table_photo(640, 480, 0.55, seed)), "image/png"


def backdrop_scenes(home) -> set[str]:
    return {p.stem for p in (home / "scenes").glob("backdrop-*.toml")}


def test_a_keys_backdrop_scene_is_its_own(server, studio_home):  # noqa: F811
    a, _, _ = server
    r = a.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg"), "backdrop": shelf()},
               data={"params": json.dumps(CLASSIC)})
    assert r.status_code == 202, r.text
    scene = a.get(f"/jobs/{r.json()['id']}").json()["scene"]
    assert scene.startswith("backdrop-")
    from studio.app.backdrops import scene_for_photo

    sellers = scene_for_photo(png(table_photo(640, 480, 0.4, 30.0)), "my table.png").id  # the seller's, on the page
    b = other_key(a)
    try:
        listed_a = {s["id"] for s in a.get("/scenes").json()["scenes"]}
        listed_b = {s["id"] for s in b.get("/scenes").json()["scenes"]}
        assert scene in listed_a and scene not in listed_b
        assert {sellers, "marble", "white-marketplace"} <= listed_a & listed_b
        # another key can neither shoot nor batch on it, nor name it in a catalog's rows
        r = b.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg")},
                   data={"params": json.dumps({**CLASSIC, "scene": scene})})
        assert r.status_code == 404 and r.json()["field"] == "scene", r.text
        r = b.post("/batches", files=[("photos", ("a.jpg", photo_bytes(1), "image/jpeg"))],
                   data={"params": json.dumps({**CLASSIC, "scene": scene})})
        assert r.status_code == 404, r.text
        catalog = f"sku,image,scene\nA,a.jpg,{scene}\n".encode()
        r = b.post("/batches", files=[("catalog", ("c.csv", catalog, "text/csv")),
                                      ("photos", ("a.jpg", photo_bytes(1), "image/jpeg"))],
                   data={"params": json.dumps(CLASSIC)})
        assert r.status_code == 422 and f"no scene '{scene}'" in r.json()["error"], r.text
        assert b.get("/jobs").json()["jobs"] == []
        # its owner can, and so can anyone on the seller's own scene
        r = a.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(2), "image/jpeg")},
                   data={"params": json.dumps({**CLASSIC, "scene": scene})})
        assert r.status_code == 202, r.text
        r = b.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(2), "image/jpeg")},
                   data={"params": json.dumps({**CLASSIC, "scene": sellers})})
        assert r.status_code == 202, r.text
        # the same photo sent by the second key: its scene too, still not listed to a third
        r = b.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(3), "image/jpeg"), "backdrop": shelf()},
                   data={"params": json.dumps(CLASSIC)})
        assert r.status_code == 202 and b.get(f"/jobs/{r.json()['id']}").json()["scene"] == scene
        assert scene in {s["id"] for s in b.get("/scenes").json()["scenes"]}
    finally:
        b.close()


def test_refused_requests_make_no_backdrop_scene(server, studio_home):  # noqa: F811
    client, _, _ = server
    before = backdrop_scenes(studio_home)
    files = {"photo": ("bottle.jpg", photo_bytes(), "image/jpeg"), "backdrop": shelf(90.0)}
    r = client.post("/shoots", files=files, data={"params": json.dumps({**CLASSIC, "preset": "no-such-preset"})})
    assert r.status_code == 422, r.text
    refused = json.dumps({**CLASSIC, "callback_url": "http://10.1.2.3/hook"})  # a private address: 422
    r = client.post("/shoots", files=files, data={"params": refused})
    assert r.status_code == 422 and r.json()["field"] == "callback_url", r.text
    r = client.post("/batches", files=[("photos", ("a.jpg", photo_bytes(1), "image/jpeg")), ("backdrop", shelf(91.0))],
                    data={"params": refused})
    assert r.status_code == 422, r.text
    catalog = b"sku,image,backdrop\nA,a.jpg,b.png\n"
    r = client.post("/batches", files=[("catalog", ("c.csv", catalog, "text/csv")),
                                       ("photos", ("a.jpg", photo_bytes(1), "image/jpeg")),
                                       ("photos", ("b.png", shelf(92.0)[1], "image/png"))],
                    data={"params": refused})
    assert r.status_code == 422, r.text
    assert backdrop_scenes(studio_home) == before
    from studio.app.context import open_store

    assert open_store().query("SELECT * FROM scene_owners") == []


def test_an_idempotency_key_names_one_request_whatever_the_route(server):  # noqa: F811
    client, _, _ = server
    shoot = client.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg")},
                        data={"params": json.dumps(CLASSIC)}, headers={"Idempotency-Key": "K#1"})
    assert shoot.status_code == 202, shoot.text
    batch = client.post("/batches", files=[("photos", ("a.jpg", photo_bytes(1), "image/jpeg")),
                                           ("photos", ("b.jpg", photo_bytes(2), "image/jpeg"))],
                        data={"params": json.dumps(CLASSIC)}, headers={"Idempotency-Key": "K"})
    assert batch.status_code == 202, batch.text
    again = client.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg")},
                        data={"params": json.dumps(CLASSIC)}, headers={"Idempotency-Key": "K#1"})
    assert again.status_code == 200 and again.json()["id"] == shoot.json()["id"], again.text
    twice = client.post("/batches", files=[("photos", ("a.jpg", photo_bytes(1), "image/jpeg")),
                                           ("photos", ("b.jpg", photo_bytes(2), "image/jpeg"))],
                        data={"params": json.dumps(CLASSIC)}, headers={"Idempotency-Key": "K"})
    assert [j["id"] for j in twice.json()["jobs"]] == [j["id"] for j in batch.json()["jobs"]]
    # a shoot's key on a batch: refused, saying so, and the shoot's record stays
    r = client.post("/batches", files=[("photos", ("a.jpg", photo_bytes(1), "image/jpeg"))],
                    data={"params": json.dumps(CLASSIC)}, headers={"Idempotency-Key": "K#1"})
    assert r.status_code == 422 and "a shoot request" in r.json()["error"], r.text
    assert r.json()["field"] == "Idempotency-Key"
    again = client.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg")},
                        data={"params": json.dumps(CLASSIC)}, headers={"Idempotency-Key": "K#1"})
    assert again.status_code == 200 and again.json()["id"] == shoot.json()["id"]


def test_numbers_must_be_numbers_and_a_clip_body_names_what_is_wrong(server):  # noqa: F811
    client, _, _ = server
    for field, value in (("light_match", "0.5"), ("light_match", True), ("variants", True), ("seed", "7")):
        r = client.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg")},
                        data={"params": json.dumps({**CLASSIC, field: value})})
        assert r.status_code == 422 and r.json()["field"] == field, (field, value, r.text)
    job = client.post("/shoots", files={"photo": ("bottle.jpg", photo_bytes(), "image/jpeg")},
                      data={"params": json.dumps(CLASSIC)}).json()["id"]
    for body, field in (('{"seconds": ', "body"), ("[5]", "body"), ('{"seconds": "5"}', "seconds"),
                        ('{"variant": true}', "variant")):
        r = client.post(f"/jobs/{job}/clips", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)
    assert client.get("/jobs").json()["jobs"][0]["id"] == job  # no clip job was made


def test_a_batch_checks_each_photo_as_it_reads_it(server):  # noqa: F811
    """A bad first photo stops the request before the others are read: the server never
    holds the whole batch's bytes (measured with tracemalloc: Python's own allocations,
    the request's bytes among them)."""
    import io

    import numpy as np
    from PIL import Image

    client, _, _ = server
    rng = np.random.default_rng(0)
    noise = []
    for _ in range(10):  # ~2.9 MB each: random pixels do not compress
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (980, 980, 3), dtype=np.uint8)).save(buf, "PNG", compress_level=0)
        noise.append(buf.getvalue())
    files = [("photos", ("bad.jpg", b"not a photo" * 1000, "image/jpeg"))]
    files += [("photos", (f"{i}.png", data, "image/png")) for i, data in enumerate(noise)]
    tracemalloc.start()
    try:
        r = client.post("/batches", files=files, data={"params": json.dumps(CLASSIC)})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 422 and "bad.jpg" in r.json()["error"], r.text
    total = sum(len(d) for d in noise)
    assert peak < total / 2, f"held {peak / 1e6:.1f} MB of a {total / 1e6:.1f} MB request before refusing it"


def test_a_catalog_of_too_many_rows_is_refused_before_its_rows_are_read(server):  # noqa: F811
    client, _, _ = server
    catalog = "sku,image\n" + "".join(f"SKU{i},p{i}.jpg\n" for i in range(100_000))
    start = time.monotonic()
    r = client.post("/batches", files=[("catalog", ("c.csv", catalog.encode(), "text/csv")),
                                       ("photos", ("p0.jpg", photo_bytes(), "image/jpeg"))],
                    data={"params": json.dumps(CLASSIC)})
    assert r.status_code == 422 and r.json()["field"] == "catalog", r.text
    assert "more than 100 rows" in r.json()["error"], r.text
    print(f"refused in {time.monotonic() - start:.2f} s")


def test_a_catalog_of_the_most_rows_is_read_row_by_row(server):  # noqa: F811
    client, _, _ = server
    catalog = "sku,image\n" + "".join(f"SKU{i},p0.jpg\n" for i in range(99)) + "LAST,missing.jpg\n\n\n"
    r = client.post("/batches", files=[("catalog", ("c.csv", catalog.encode(), "text/csv")),
                                       ("photos", ("p0.jpg", photo_bytes(), "image/jpeg"))],
                    data={"params": json.dumps(CLASSIC)})
    assert r.status_code == 422 and "missing.jpg" in r.json()["error"], r.text
    assert "more than" not in r.json()["error"]
