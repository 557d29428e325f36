"""Only what pyproject.toml cannot say: the wheel carries copies of the top-level `scenes/` and
`assets/` folders as package data under `studio/_shipped/`, so an installed Studio has its scenes
and its page's assets wherever it runs. The top-level folders stay the one source; an editable
install reads them in place (studio/shipped.py)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("scenes", "assets")


class BuildWithShipped(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the checkout's folders are read where they are
            return
        for name in SHIPPED:
            source = ROOT / name
            if not source.is_dir():
                raise SystemExit(f"setup.py: {source} is missing; build from a full checkout or sdist")
            for path in sorted(source.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    target = Path(self.build_lib) / "studio" / "_shipped" / name / path.relative_to(source)
                    self.mkpath(str(target.parent))
                    self.copy_file(str(path), str(target))


setup(cmdclass={"build_py": BuildWithShipped})
