from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="studio-test-hf-"))
os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports huggingface_hub: tests never fetch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own data dir: nothing leaks into the user's."""
    home = tmp_path / "studio-home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave screenshots and images for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("STUDIO_CORPUS"):
        whole = pytest.mark.skip(reason="the whole photo corpus runs with STUDIO_CORPUS=1 (a spread of it always runs)")
        for item in items:
            if "corpus" in item.keywords:
                item.add_marker(whole)
    if os.environ.get("STUDIO_FORCE_CUDA_TESTS") or has_cuda():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU (none found)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fake_bfl(monkeypatch):
    """A BFL-protocol server on 127.0.0.1 (tests/fake_bfl.py); STUDIO_BFL_BASE_URL points at it."""
    import threading
    from http.server import ThreadingHTTPServer

    from tests.fake_bfl import FakeBFL

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # a client that gave up (a cancelled job, a test that ended) is no error of the fake's;
            # its report would land in whichever test captures stderr next
            import sys

            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                super().handle_error(request, client_address)

    fake = FakeBFL()
    server = Server(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("STUDIO_BFL_BASE_URL", fake.url)
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def hf_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache of the test's own (the variable and huggingface_hub's
    constant both point at it); models loaded from it are released afterwards."""
    import huggingface_hub.constants as c

    from studio.models.holder import HOLDER

    hub = tmp_path / "hf" / "hub"
    hub.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(hub))
    yield hub
    HOLDER.release_all()
