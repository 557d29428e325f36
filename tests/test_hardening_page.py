"""Issue 37, the page's side, case by case: the page opens only files it received itself
through its upload route (never a path a request names, wherever it lies), its errors say
nothing about which paths exist, and URLs it is asked to fetch reach public addresses only.
Refusals of non-loopback addresses through the server run inside `unshare -n`."""

from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path

import httpx
import pytest

from studio.api import webhooks
from studio.config import data_dir
from tests.test_hardening import photo
from tests.test_server_guard import _in_private_network, needs_netns

REFUSED = "the page opens only files uploaded to it"


def fd(path: str | Path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def call(root: str, name: str, data: list) -> tuple[str, str]:
    """A page endpoint called as a script would (Gradio's /call route): its last event and data."""
    r = httpx.post(f"{root}/gradio_api/call/{name}", json={"data": data}, timeout=30)
    assert r.status_code == 200, r.text
    with httpx.stream("GET", f"{root}/gradio_api/call/{name}/{r.json()['event_id']}", timeout=180) as s:
        text = "".join(s.iter_text())
    events = [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]
    datas = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    return events[-1], datas[-1]


def upload(root: str, path: Path) -> str:
    """The page's own upload route, as the browser uses it."""
    with path.open("rb") as f:
        r = httpx.post(f"{root}/gradio_api/upload", files=[("files", (path.name, f, "image/jpeg"))], timeout=30)
    assert r.status_code == 200, r.text
    return r.json()[0]


@pytest.fixture
def page(studio_home):
    from studio.ui.serve import launch
    from tests.test_cli import free_port

    port = free_port()
    app = launch(port=port, block=False)
    yield f"http://127.0.0.1:{port}"
    app.close()


def test_every_page_endpoint_opens_only_what_was_uploaded_to_it(page, tmp_path):
    private = photo(tmp_path / "home", "private.jpg")
    # a file already in Gradio's cache (left by an earlier run, or copied there by Gradio from
    # a named path) was not received by this page: where it lies proves nothing
    planted = data_dir() / "cache" / "gradio" / ("0" * 8) / "planted.jpg"
    planted.parent.mkdir(parents=True)
    shutil.copyfile(private, planted)
    for named in (private, planted, "/etc/passwd", tmp_path / "home"):
        for name, data in (("upload", [[fd(named)]]), ("backdrop", [fd(named), 0, "all", ""]),
                           ("batch_start", ["", [fd(named)], "", "", "", "classic", 1, "", None, 0]),
                           ("batch_start", ["", None, "", "", "", "classic", 1, "", fd(named), 0]),
                           ("shoot", [fd(named), "marble", "classic", 1, "amazon-main"])):
            event, said = call(page, name, data)
            assert event == "error", (name, named, said)
            # one sentence (or Gradio's own refusal before the handler runs), whatever the path is
            assert REFUSED in said or said == '{"error": null}', (name, named, said)
    # nothing of the private photo was copied where the page serves files from
    assert not [p for p in (data_dir() / "cache").rglob("private.jpg")]
    assert not list((data_dir() / "uploads").glob("batch-*"))
    # a photo uploaded through the page is cut out, and a backdrop uploaded there becomes a scene
    event, said = call(page, "upload", [[fd(upload(page, private))]])
    assert event == "complete", said
    event, said = call(page, "backdrop", [fd(upload(page, photo(tmp_path, "shelf.jpg", w=640, h=480))), 0, "all", ""])
    assert event == "complete" and "backdrop-" in said, said


def test_a_replay_from_the_page_takes_only_an_uploaded_reference_and_says_nothing_of_paths(tmp_path):
    import gradio as gr

    from studio.app.context import open_store, run_jobs
    from studio.app.shoot import submit_shoot
    from studio.ui import tab_history
    from studio.ui.uploads import receive

    job = submit_shoot(open_store(), photo(tmp_path, "mug.jpg"), scene="marble", variants=1, long_side=256)
    run_jobs([job])
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "not-a-photo.jpg").write_text("text")
    said = set()
    for ref in (str(photo(tmp_path / "home", "private.jpg")), str(tmp_path / "nope.jpg"), str(tmp_path / "a-folder"),
                str(tmp_path / "not-a-photo.jpg"), "/etc/passwd", 123, ["x"]):
        with pytest.raises(gr.Error) as err:
            tab_history.on_replay(job, "generate", json.dumps({"reference": ref}))
        said.add(str(err.value))
    assert len(said) == 1 and REFUSED in said.pop()  # the same sentence whatever is at the path
    with pytest.raises(gr.Error, match="JSON object"):
        tab_history.on_replay(job, "generate", "[1, 2]")
    ref = photo(data_dir() / "cache" / "gradio" / "up", "ref.jpg")
    receive([ref])  # what the page's upload route records for a file it stored
    assert "Replayed from" in tab_history.on_replay(job, "generate", json.dumps({"reference": str(ref)}))


def test_the_batch_tab_says_nothing_about_an_out_path_outside_its_folders(tmp_path):
    import gradio as gr

    from studio.config import load_settings, save_settings
    from studio.ui import tab_batch

    photo(tmp_path / "catalog", "a.jpg")
    settings = load_settings()
    settings.batch_folders = [str(tmp_path / "catalog")]
    save_settings(settings)
    (tmp_path / "a-file").write_text("x")
    said = set()
    for out in ("/etc/passwd", "/etc/nope", "/etc", str(tmp_path / "a-file")):
        with pytest.raises(gr.Error) as err:
            tab_batch.on_start(str(tmp_path / "catalog"), None, out, "", "", "classic", 1)
        said.add(str(err.value).replace(out, "OUT"))
    assert len(said) == 1 and "outside the folders the app may write to" in said.pop()


# -- URLs the server is asked to call reach public addresses only --------------------------

NOT_PUBLIC = ["::7f00:1", "::a00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::6440:1", "64:ff9b:1::a00:1",
              "2002:7f00:1::1", "2002:a00:1::1", "2002:6440:1::", "fec0::1", "fed0::5", "::ffff:100.64.0.1",
              "2001::1", "100.64.0.1", "100.127.255.254"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_ipv6_forms_of_private_addresses_are_not_public(address):
    assert not webhooks.public_address(ipaddress.ip_address(address))


def test_public_addresses_stay_public_in_their_ipv6_forms():
    for address in ("8.8.8.8", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "2001:4860:4860::8888"):
        assert webhooks.public_address(ipaddress.ip_address(address)), address


_REFUSALS = r'''
import json, os, sys, tempfile
os.environ["STUDIO_HOME"] = tempfile.mkdtemp()
import httpx
from studio.api import webhooks
from studio.ui.serve import launch
from tests.test_cli import free_port
hosts = json.loads(sys.argv[1])
callbacks = {}
for h in hosts:
    try:
        webhooks.check_url(f"http://[{h}]/hook" if ":" in h else f"http://{h}/hook", False)
        callbacks[h] = "allowed"
    except webhooks.CallbackRefused as exc:
        callbacks[h] = str(exc)
port = free_port()
app = launch(port=port, block=False)
files = {}
try:
    for h in hosts:
        url = f"http://[{h}]/x.png" if ":" in h else f"http://{h}/x.png"
        r = httpx.get(f"http://127.0.0.1:{port}/gradio_api/file={url}", timeout=30)
        files[h] = r.status_code
finally:
    app.close()
print(json.dumps({"callbacks": callbacks, "files": files}))
'''


@needs_netns
def test_callbacks_and_the_pages_url_fetch_refuse_every_form_of_a_private_address():
    hosts = ["::7f00:1", "64:ff9b::7f00:1", "2002:7f00:1::1", "fec0::1", "100.64.0.1", "100.100.100.100"]
    code = _REFUSALS.replace("sys.argv[1]", repr(json.dumps(hosts)))
    out = _in_private_network(code)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(said.startswith("callback_url points at a loopback, private") for said in result["callbacks"].values()), \
        result
    assert all(status == 403 for status in result["files"].values()), result


def test_a_shoot_from_the_page_takes_only_an_uploaded_reference(tmp_path):
    import gradio as gr

    from studio.app.context import open_store, run_jobs
    from studio.app.cutout import submit_cutout
    from studio.ui import tab_studio

    cutout = submit_cutout(open_store(), photo(tmp_path, "mug.jpg"), "classic")
    run_jobs([cutout])
    for ref in (photo(tmp_path / "home", "private.jpg"), tmp_path / "nope.jpg", tmp_path / "home"):
        with pytest.raises(gr.Error, match=REFUSED):
            tab_studio.on_shoot({"cutout": cutout}, "marble", "", "classic", 1, "amazon-main", False, 0.0, str(ref),
                                None, progress=None)
    assert open_store().one("SELECT COUNT(*) FROM jobs WHERE recipe = 'shoot'")[0] == 0
