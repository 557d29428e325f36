"""Property-based tests (hypothesis) for what reads people's files: the batch CSV
reader, the scene loader and the settings loader. Whatever the input, they answer
with items or sentences, never with an exception that escapes, and what they accept
is within its limits."""

from __future__ import annotations

import csv
import io
import json
import math
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.app.batch_input import read_csv
from studio.config import Settings, _from_dict
from studio.paths import safe_name
from studio.scenes import SceneError, parse_scene

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
cell = st.one_of(st.text(max_size=30), st.sampled_from(["=1+1", "+cmd", "@SUM(A1)", "-3", "../../x", "/etc/passwd",
                                                        "a/b", "..", "CON", " ", "mug.jpg", "marble", "7", "0"]))


@QUICK
@given(header=st.lists(st.sampled_from(["sku", "image", "scene", "preset", "variants", "notes", "extra", "SKU ",
                                        "", "files"]), min_size=1, max_size=8),
       rows=st.lists(st.lists(cell, max_size=10), max_size=8),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"]))
def test_the_csv_reader_answers_with_items_or_sentences(tmp_path_factory, header, rows, encoding):
    folder = tmp_path_factory.mktemp("csv")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        data = buf.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = buf.getvalue().encode("utf-8", "replace")
    (folder / "c.csv").write_bytes(data)
    got = read_csv(folder / "c.csv")
    assert all(isinstance(e, str) and e for e in got.errors)
    for item in got.items:
        # every accepted SKU has a folder name that stays a single name
        assert item.name == safe_name(item.sku)
        if not got.errors:
            assert item.name and "/" not in item.name and "\\" not in item.name and item.name not in (".", "..")
        assert item.variants is None or 1 <= item.variants <= 16


scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=12))
value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                     max_leaves=12)


@QUICK
@given(data=st.dictionaries(st.sampled_from(["id", "title", "category", "thumbnail", "prompt", "canvas", "placement",
                                             "lighting", "shadow", "reflection", "classic", "other"]), value,
                            max_size=12))
def test_the_scene_loader_only_ever_says_what_is_wrong(data):
    try:
        scene = parse_scene(data, "x.toml")
    except SceneError as exc:
        assert str(exc).startswith("x.toml: ")
        return
    w, h = scene.canvas_size()
    assert 1 / 4 <= w / h <= 4 and 0.05 <= scene.placement.scale <= 1


@QUICK
@given(text=st.text(max_size=200))
def test_scene_files_of_any_text_load_or_are_named(tmp_path_factory, text):
    from studio.scenes import load_scenes

    folder = tmp_path_factory.mktemp("scenes")
    (folder / "any.toml").write_text(text, encoding="utf-8", errors="replace")
    (folder / "bytes.toml").write_bytes(text.encode("utf-16"))
    errors: list[str] = []
    load_scenes([folder], errors=errors)
    assert all(Path(e.split(": ", 1)[0]).name in ("any.toml", "bytes.toml") for e in errors)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assert any("any.toml" in e for e in errors)


@QUICK
@given(raw=st.dictionaries(st.sampled_from(["budget", "limits", "default_variants", "default_steps",
                                            "default_guidance", "fidelity_threshold", "gate_attempts", "engine",
                                            "batch_folders", "theme", "unknown"]), value, max_size=10))
def test_the_settings_loader_keeps_every_value_in_range(raw):
    s = _from_dict(json.loads(json.dumps(raw, default=str)) if _jsonable(raw) else raw)
    assert isinstance(s, Settings)
    assert math.isfinite(s.budget) and 0 <= s.budget <= 1_000_000
    assert 1 <= s.default_variants <= 16 and 1 <= s.gate_attempts <= 10 and 0 <= s.fidelity_threshold <= 1
    assert all(isinstance(v, int) and v > 0 for v in (s.limits.max_pixels, s.limits.max_upload_bytes))
    assert all(isinstance(p, str) for p in s.batch_folders)


def _jsonable(raw) -> bool:
    try:
        json.dumps(raw)
    except (TypeError, ValueError):
        return False
    return True
