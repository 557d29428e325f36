"""How the CLI prints: JSON for scripts, local times for people."""

from __future__ import annotations

import json
import time


def print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"
