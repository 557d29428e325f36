"""The layers hold: SQL on the engine's tables only in `studio/pipeline/`; the UI and
the CLI only through the app layer; a new generator is one file plus one registry
line; one model holder with one big model at a time and a rollback on a failed load."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from studio import cli
from studio.models import registry
from studio.models.holder import ModelHolder
from tests.synth import make_case

STUDIO = Path(__file__).resolve().parent.parent / "studio"
ENGINE_TABLES = ("jobs", "stage_runs", "job_inputs", "variants", "ledger")
SQL_ON_ENGINE = re.compile(r"\b(FROM|INTO|UPDATE|JOIN)\s+(" + "|".join(ENGINE_TABLES) + r")\b", re.IGNORECASE)


def _modules(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_sql_on_engine_tables_lives_in_the_pipeline():
    offenders = []
    for path, tree in _modules(STUDIO):
        rel = path.relative_to(STUDIO).as_posix()
        if rel.startswith("pipeline/") or rel == "store.py":  # store.py holds the schema's migrations
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_ON_ENGINE.search(node.value):
                offenders.append(f"{rel}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []


def test_the_grep_finds_what_it_looks_for():
    assert SQL_ON_ENGINE.search("SELECT outputs FROM stage_runs WHERE job_id = ?")
    assert SQL_ON_ENGINE.search("update jobs set status = 'x'") and not SQL_ON_ENGINE.search("FROM batch_items")


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


@pytest.mark.parametrize("shell", ["ui", "cli"])
def test_ui_and_cli_import_only_the_app_layer(shell):
    offenders = []
    for path, tree in _modules(STUDIO / shell):
        bad = sorted(m for m in _imports(tree) if m.startswith(("studio.pipeline", "studio.models")))
        if bad:
            offenders.append(f"{path.relative_to(STUDIO)}: {', '.join(bad)}")
    assert offenders == []


def test_a_new_generator_is_one_file_and_one_registry_line(tmp_path, monkeypatch, capsys):
    from tests import tiny_generator

    monkeypatch.setitem(registry.GENERATORS, "tiny", "tests.tiny_generator:TinyGenerator")  # the one line
    photo, truth = make_case("red-bottle-on-gradient")
    Image.fromarray(photo).save(tmp_path / "bottle.png")
    tiny_generator.CALLS.clear()
    code = cli.main(["shoot", str(tmp_path / "bottle.png"), "--engine", "tiny", "--scene", "marble", "--variants", "2",
                     "--preset", "shopify", "--seed", "5", "--out", str(tmp_path / "out"), "--json"])
    result = json.loads(capsys.readouterr().out)[0]
    assert code == 0 and result["status"] == "done" and result["engine"] == "tiny"
    assert len(result["files"]) == 2 and all(Path(f).stat().st_size > 1000 for f in result["files"])
    # it ran once per variant with the variant's seed, was handed the scene's prompt and a canvas on 8 px
    assert sorted(c["seed"] for c in tiny_generator.CALLS) == [5, 6]
    assert all("marble" in c["prompt"] and c["size"][0] % 8 == 0 for c in tiny_generator.CALLS)
    from studio.app.context import open_store
    from studio.app.history import job_detail

    variants = job_detail(open_store(), result["job"])["variants"]
    assert [v["engine"] for v in variants] == ["tiny", "tiny"] and all(0.3 < v["painted"] < 1 for v in variants)
    # and the engine is offered wherever engines are chosen
    from studio.app.engines import engine_choices

    assert "tiny" in engine_choices()


class Loaded:
    def __init__(self, name: str):
        self.name = name


def test_the_holder_keeps_one_big_model_and_small_ones_beside_it():
    holder = ModelHolder()
    loads: list[str] = []

    def loader(name):
        return lambda: loads.append(name) or Loaded(name)

    flux = holder.get("flux", loader("flux"), big=True)
    assert holder.get("flux", loader("flux"), big=True) is flux and loads == ["flux"]  # loaded once
    clip = holder.get("clip", loader("clip"))
    sdxl = holder.get("sdxl", loader("sdxl"), big=True)
    assert sdxl.name == "sdxl" and holder.held() == ["sdxl", "clip"]  # flux was freed first
    assert holder.get("clip", loader("clip")) is clip
    holder.release()
    assert holder.held() == ["clip"] and holder.big_key is None
    holder.release_all()
    assert holder.held() == []


def test_a_failed_load_rolls_back_to_the_model_that_worked():
    holder = ModelHolder()
    loads: list[str] = []
    holder.get("flux", lambda: loads.append("flux") or Loaded("flux"), big=True)

    def broken():
        raise MemoryError("out of memory while loading")

    with pytest.raises(MemoryError):
        holder.get("sdxl", broken, big=True)
    assert holder.big_key == "flux" and loads == ["flux", "flux"]  # freed for the new one, then loaded again
    # when the old one no longer loads either, nothing is held (and the first error is the one raised)
    holder2 = ModelHolder()
    state = {"ok": True}

    def flaky():
        if not state["ok"]:
            raise OSError("weights gone")
        return Loaded("a")

    holder2.get("a", flaky, big=True)
    state["ok"] = False
    with pytest.raises(MemoryError):
        holder2.get("b", broken, big=True)
    assert holder2.big_key is None


def test_engines_and_fallbacks_read_the_registry(monkeypatch):
    assert registry.engines()[:1] == ["classic"] and {"flux", "sdxl", "cloud"} <= set(registry.engines())
    # auto's order among local models (issue 19): klein 4B, SDXL inpainting, FLUX.1 Fill [dev]
    assert registry.local_generators() == ["klein", "sdxl", "flux"] and registry.cloud_generators() == ["cloud"]
    # nothing installed, no key: auto is the classic compositor under every policy
    for policy in ("local-only", "cloud-only", "cloud-fallback"):
        assert registry.pick_generator("auto", policy) == "classic"
    assert registry.fallback_engine("flux", "cloud-fallback", allow_cpu=False) is None  # no key
    from studio.secrets import save_key

    save_key("bfl", "sk-test")
    assert registry.pick_generator("auto", "cloud-only") == "cloud"
    assert registry.pick_generator("auto", "cloud-fallback") == "cloud"
    assert registry.pick_generator("auto", "local-only") == "classic"
    assert registry.fallback_engine("flux", "cloud-fallback", allow_cpu=False) == "cloud"
    assert registry.fallback_engine("flux", "local-only", allow_cpu=False) is None


def _module_name(path: Path) -> str:
    parts = path.relative_to(STUDIO.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _studio_imports(name: str, path: Path, tree: ast.AST, modules: set[str]) -> set[str]:
    """The studio modules one module imports, at its top or inside a function (a lazy import
    is still a circle: it only waits to bite)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                out |= {full} if full in modules else ({base} if base in modules else set())
    return out - {name}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_not_even_lazy_ones():
    trees = {_module_name(path): (path, tree) for path, tree in _modules(STUDIO)}
    graph = {name: _studio_imports(name, path, tree, set(trees)) for name, (path, tree) in trees.items()}
    assert _circles(graph) == []


def test_the_circle_finder_finds_circles():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from studio.app import shoot\n    from .clip import clip_params\n")
    path = STUDIO / "app" / "batch.py"
    assert _studio_imports("studio.app.batch", path, tree, {"studio.app.shoot", "studio.app.clip"}) == {
        "studio.app.shoot", "studio.app.clip"}
