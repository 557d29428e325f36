"""Where the files Studio ships beside its code live: the scene templates (`scenes/`) and the
page's assets (`assets/`).

The top-level folders of the checkout are the one source. A built wheel carries copies of them
as package data under `studio/_shipped/` (setup.py copies them in at build time), so an installed
copy finds them from any folder; a checkout or an editable install reads the top-level folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SHIPPED = ("scenes", "assets")


def shipped_dir(name: str) -> Path:
    """The folder of shipped `scenes` or `assets`: the installed package's copy, else the checkout's."""
    if name not in SHIPPED:
        raise ValueError(f"nothing called {name!r} is shipped")
    package = Path(str(resources.files("studio")))  # a folder on disk: Studio is not run from a zip
    built = package / "_shipped" / name
    return built if built.is_dir() else package.parent / name
