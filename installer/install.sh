#!/usr/bin/env bash
# Studio installer for Linux and macOS: sets up .venv (right torch build for this
# machine) through the launcher, then offers a desktop shortcut.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=""
for cand in python3.13 python3.12 python3.11 python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PY="$cand"; break
  fi
done
if [ -z "$PY" ]; then
  echo "studio: Python 3.11 or newer is needed; install it from python.org or your package manager." >&2
  exit 1
fi
"$PY" launcher.py setup
"$PY" installer/shortcut.py || echo "studio: no desktop shortcut made (you can start Studio with: $PY launcher.py)"
echo "studio: installed. Start it with: $PY launcher.py"
