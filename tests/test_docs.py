"""The manual: the MkDocs site in docs/ builds with --strict (a broken link, anchor or nav entry
fails), and every link and picture the README gives points at a file in the checkout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_manual_builds_strictly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").is_file()
    # the pictures from the top-level assets/ are part of the site (docs/hooks.py)
    assert (tmp_path / "site" / "assets" / "contact-sheet.jpg").is_file()


def test_the_readme_links_point_at_files_that_exist():
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (ROOT / "README.md").read_text())
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert local and "docs/index.md" in local
    assert [t for t in local if not (ROOT / t).is_file()] == []
