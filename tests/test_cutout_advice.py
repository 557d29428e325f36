"""A doubtful cut-out says so, everywhere a person meets it (issue 29): one line naming
the fix (touch up, or BiRefNet lite, downloaded where it is not installed), and the
variants' fidelity verdicts carry that they were measured against it."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from studio import cli
from studio.models.classic_confidence import LOW
from tests.corpus import render, specs
from tests.test_api import server, wait  # noqa: F401 (server is a fixture)

DOUBTFUL = "144-jar-bedsheet-border-341x256-jpeg"  # a jar the frame cuts, on a folded sheet
CLEAR = "000-bottle-bedsheet-normal-shadow-640x480-jpeg"


def _photo(tmp_path, name: str):
    spec = next(s for s in specs() if s.name == name)
    rgb, _ = render(spec)
    path = tmp_path / f"{name}.jpg"
    Image.fromarray(rgb).save(path, quality=92)
    return path


def test_the_cli_says_a_doubtful_cut_out_and_offers_the_model(studio_home, tmp_path, capsys):
    photo = _photo(tmp_path, DOUBTFUL)
    assert cli.main(["cutout", str(photo), "--out", str(tmp_path / "o"), "--backend", "classic", "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["confidence"] < LOW
    advice = r["advice"]
    assert advice["model"] == "birefnet-lite" and advice["installed"] is False
    assert advice["download"] == "studio models download birefnet-lite"
    assert cli.main(["cutout", str(photo), "--out", str(tmp_path / "o2"), "--backend", "classic"]) == 0
    lines = capsys.readouterr().out.splitlines()
    said = [line for line in lines if line.startswith("  The cut-out looks doubtful")]
    assert len(said) == 1 and "touch up" in said[0] and "studio models download birefnet-lite" in said[0]
    assert "0.2 GB" in said[0] and "MIT" in said[0]


def test_a_clear_cut_out_says_nothing(studio_home, tmp_path, capsys):
    name = next(s.name for s in specs() if s.product == "bottle" and s.framing == "normal" and s.width <= 800
                and s.background == "paper")
    assert cli.main(["cutout", str(_photo(tmp_path, name)), "--out", str(tmp_path / "o"), "--backend", "classic",
                     "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["confidence"] >= LOW and r["advice"] is None


def test_with_birefnet_lite_installed_the_line_names_the_backend(studio_home, tmp_path, capsys):
    from tests.standin_birefnet import build_standin

    build_standin(studio_home / "models" / "ZhengPeng7--BiRefNet_lite", "ZhengPeng7/BiRefNet_lite")
    assert cli.main(["cutout", str(_photo(tmp_path, DOUBTFUL)), "--out", str(tmp_path / "o"), "--backend",
                     "classic", "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["advice"]["installed"] is True and "--backend birefnet-lite" in r["advice"]["line"]


def test_a_shoot_from_a_doubtful_cut_out_is_no_clean_pass(studio_home, tmp_path, capsys):
    photo = _photo(tmp_path, DOUBTFUL)
    assert cli.main(["shoot", str(photo), "--engine", "classic", "--backend", "classic", "--variants", "2",
                     "--scene", "marble", "--long-side", "256", "--out", str(tmp_path / "o"), "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["cutout"]["advice"]["model"] == "birefnet-lite"
    assert all(v["gate"]["caveat"] == "measured against a doubtful cut-out" for v in r["variants"])
    assert cli.main(["shoot", str(photo), "--engine", "classic", "--backend", "classic", "--variants", "1",
                     "--scene", "marble", "--long-side", "256", "--out", str(tmp_path / "o2")]) == 0
    out = capsys.readouterr().out
    assert "doubtful" in out and "The fidelity checks were measured against it." in out


def test_the_page_marks_the_variants_and_offers_the_model(studio_home, tmp_path):
    pytest.importorskip("gradio")
    from studio.app.context import open_store
    from studio.ui import tab_studio, workbench

    view = workbench.cut_out(_photo(tmp_path, DOUBTFUL), backend="classic")
    state, _, info, _, fix = tab_studio._cutout_outputs(view, {"cutout": view["job"]})
    assert "doubtful" in info and fix["visible"] is True and "Download BiRefNet lite (0.2 GB, MIT)" in fix["value"]
    res = workbench.make_variants(open_store(), view["job"], scene="marble", engine="classic", variants=1)
    assert res["summary"]["cutout"]["advice"]
    md = tab_studio._shots_outputs(res, state)[2]
    assert "measured against it" in md and "✓?" in md


def test_the_model_button_cuts_out_again_with_birefnet_lite(studio_home, tmp_path):
    pytest.importorskip("gradio")
    from studio.config import data_dir
    from studio.ui import tab_studio
    from tests.standin_birefnet import build_standin

    build_standin(studio_home / "models" / "ZhengPeng7--BiRefNet_lite", "ZhengPeng7/BiRefNet_lite")
    photo = data_dir() / "uploads" / "jar.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(_photo(tmp_path, DOUBTFUL).read_bytes())
    from studio.ui.uploads import receive

    receive([photo])  # as the page's upload route records a file it stored
    state, _, info, _, _ = tab_studio.on_model_cutout({"photo": str(photo)}, None, progress=lambda *a, **k: None)
    assert "BiRefNet lite" in info and state["cutout"]


def test_the_api_job_carries_the_advice(server, tmp_path):  # noqa: F811
    client, _, _ = server
    data = _photo(tmp_path, DOUBTFUL).read_bytes()
    r = client.post("/cutouts", files={"photo": ("jar.jpg", io.BytesIO(data), "image/jpeg")},
                    data={"params": json.dumps({"backend": "classic"})})
    job = wait(client, r.json()["id"])
    assert job["cutout"]["confidence"] < LOW
    assert job["cutout"]["advice"]["download"] == "studio models download birefnet-lite"
