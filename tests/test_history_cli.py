from __future__ import annotations

import json

from studio import cli
from studio.app.context import open_store
from studio.pipeline import jobs
from studio.pipeline.worker import Worker
from tests import engine_stages as es


def test_history_show_and_cancel_commands(capsys):
    store = open_store()
    ok = jobs.submit(store, es.REGISTRY, "chain", {"variants": 2, "scene": "marble"})
    bad = jobs.submit(store, es.REGISTRY, "broken", {})
    Worker(store, es.REGISTRY, poll_s=0.05).run_until([ok, bad], timeout=30)
    queued = jobs.submit(store, es.REGISTRY, "chain", {})

    assert cli.main(["history", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"]: r["status"] for r in rows} == {ok: "done", bad: "failed", queued: "queued"}
    assert cli.main(["history", "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert bad in out and "broken: ValueError: disk on fire" in out and ok not in out

    assert cli.main(["show", ok[:6]]) == 0
    out = capsys.readouterr().out
    assert "variant[1]" in out and "variant 1: seed 1" in out and '"scene": "marble"' in out
    assert cli.main(["show", "nope"]) == 2
    assert "no job 'nope'" in capsys.readouterr().err

    assert cli.main(["cancel", queued]) == 0
    assert capsys.readouterr().out.strip() == f"{queued}: cancelled"
    assert jobs.get_job(store, queued)["status"] == "cancelled"
