"""Issue 37: a backdrop photo costs what Studio keeps of it, not what its header claims.
A tiny PNG of 100 MP is decoded in its own mode and reduced at once (never made into a
100 MP RGB frame, nor hashed whole); a photo too long and narrow to keep is refused from
its header with a sentence, not by Studio's own re-encode; and `studio scenes forget`
removes the API's unused backdrop scenes, never the seller's nor one a job in progress uses."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from tests.backdrops import table_photo
from tests.test_api_backdrop import png

ROOT = Path(__file__).resolve().parent.parent


def flat_png(width: int, height: int, grey: int = 200) -> bytes:
    """A greyscale PNG of one shade, made row by row (it is never held whole here either)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = b"\x00" + bytes([grey]) * width
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc")
@pytest.mark.parametrize("read", [
    "len(__import__('studio.app.backdrops').app.backdrops.backdrop_for_photo(photo, 'huge.png').jpeg)",
    "__import__('studio.imaging.io').imaging.io.ingest_file(photo, check_only=True).size[0]",  # a product photo
])
def test_a_tiny_png_of_100_megapixels_costs_little_memory(tmp_path, read):
    photo = tmp_path / "huge.png"
    photo.write_bytes(flat_png(10_000, 10_000))
    assert photo.stat().st_size < 200_000
    # a fresh process: its peak RSS (VmHWM: ru_maxrss would carry pytest's own over exec)
    # before and after reading the photo as a backdrop, or checking it as a product photo
    code = ("import sys\n"
            "from pathlib import Path\n"
            "import studio.app.backdrops, studio.imaging.io\n"
            "def peak():\n"
            "    line = [x for x in open('/proc/self/status') if x.startswith('VmHWM')][0]\n"
            "    return int(line.split()[1])\n"
            "photo = Path(sys.argv[1])\n"
            "before = peak()\n"
            f"made = {read}\n"
            "print((peak() - before) // 1024, made)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(photo)], capture_output=True, text=True, env=env,
                         timeout=120, check=True).stdout.split()
    grew_mb, made = int(out[0]), int(out[1])
    print(f"peak RSS grew {grew_mb} MB for a {photo.stat().st_size // 1024} KB PNG of 100 MP")
    assert made > 0
    assert grew_mb < 250, f"a 100 MP photo cost {grew_mb} MB (one grey frame is 100 MB)"


def test_a_photo_too_long_and_narrow_is_refused_from_its_header(studio_home):
    from studio.app.backdrops import BackdropError, reference_bytes, scene_for_photo

    data = flat_png(60_000, 256)
    start = time.monotonic()
    with pytest.raises(BackdropError, match=r"60000×256 is too long and narrow .*\(at most 4:1"):
        scene_for_photo(data, "panorama.png")
    print(f"refused in {time.monotonic() - start:.3f} s")
    with pytest.raises(BackdropError, match="too long and narrow"):
        reference_bytes(data, "panorama.png")
    assert not list((studio_home / "scenes").glob("*.toml")) if (studio_home / "scenes").exists() else True
    scene = scene_for_photo(flat_png(1024, 256), "wide.png")  # 4:1 is kept, and stays usable
    assert scene.id.startswith("backdrop-") and scene.aspect == (4, 1)


def test_scenes_forget_removes_only_unused_api_backdrops(studio_home):
    from studio.app.backdrops import backdrop_for_photo, keep_for_key, scene_for_photo
    from studio.app.context import open_store
    from studio.app.shoot import submit_shoot
    from tests.test_api import photo_bytes

    store = open_store()
    sellers = scene_for_photo(png(table_photo(640, 480, 0.4, 30.0)), "mine.png")
    old = keep_for_key(store, backdrop_for_photo(png(table_photo(640, 480, 0.5, 60.0)), "a.png"), "key-a")[0]
    busy = keep_for_key(store, backdrop_for_photo(png(table_photo(640, 480, 0.6, 90.0)), "b.png"), "key-b")[0]
    photo = studio_home / "bottle.jpg"
    photo.write_bytes(photo_bytes())
    submit_shoot(store, photo, scene=busy.id, engine="classic", variants=1, long_side=256)  # queued: in progress
    planned = keep_for_key(store, backdrop_for_photo(png(table_photo(640, 480, 0.6, 120.0)), "c.png"), "key-b")[0]
    from studio.app.batch import create_batch

    (studio_home / "catalog").mkdir()
    (studio_home / "catalog" / "a.jpg").write_bytes(photo_bytes(1))
    create_batch(store, studio_home / "catalog", studio_home / "shots", scene=planned.id)  # its items wait
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def forget(*args: str) -> dict:
        run = subprocess.run([sys.executable, "-m", "studio", "scenes", "forget", *args, "--json"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    assert forget()["forgotten"] == []  # all of them made today: within the 30 days
    assert forget("--days", "0", "--dry-run")["forgotten"] == [old.id]
    assert (studio_home / "scenes" / f"{old.id}.toml").exists()
    assert forget("--days", "0")["forgotten"] == [old.id]
    left = {p.stem for p in (studio_home / "scenes").glob("*.toml")}
    assert left == {sellers.id, busy.id, planned.id}
    assert not list((studio_home / "scenes").glob(f"{old.id}.*"))  # its photo too
    assert {r["scene_id"] for r in store.query("SELECT scene_id FROM scene_owners")} == {busy.id, planned.id}


def test_a_refused_batch_saves_none_of_its_backdrops(studio_home, tmp_path):
    from PIL import Image

    from studio.app.batch import BatchInvalid, create_batch
    from studio.app.context import open_store
    from tests.synth import make_case
    from tests.test_backdrop import _catalog

    photo, _ = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "a.png")
    (tmp_path / "bench.png").write_bytes(png(table_photo(640, 480, 0.5, 0.0)))
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    store = open_store()
    mixed = _catalog(tmp_path, [{"sku": "A", "image": "a.png", "backdrop": "bench.png"},
                                {"sku": "B", "image": "a.png", "backdrop": "broken.jpg"}])
    with pytest.raises(BatchInvalid, match="broken.jpg"):
        create_batch(store, mixed, tmp_path / "out")
    good = _catalog(tmp_path, [{"sku": "A", "image": "a.png", "backdrop": "bench.png"}])
    if Path("/proc").is_dir():  # a folder no one may write into, root included
        with pytest.raises(BatchInvalid, match="read-only"):
            create_batch(store, good, Path("/proc/studio-shots"))
    assert not (studio_home / "scenes").exists() or not list((studio_home / "scenes").iterdir())
    create_batch(store, good, tmp_path / "out")
    assert len(list((studio_home / "scenes").glob("backdrop-*.toml"))) == 1
