"""Make a desktop shortcut that starts Studio through the launcher (standard library only)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shortcut_text(system: str, python: str, root: Path) -> tuple[str, str]:
    """(file name, contents) of the shortcut for this platform."""
    launcher = root / "launcher.py"
    icon = root / "assets" / "icon.png"
    if system == "Linux":
        return "studio.desktop", (
            "[Desktop Entry]\nType=Application\nName=Studio\nComment=Product photos on your own machine\n"
            f'Exec="{python}" "{launcher}"\nPath={root}\nIcon={icon}\nTerminal=false\nCategories=Graphics;\n'
        )
    if system == "Darwin":
        return "Studio.command", f'#!/bin/bash\ncd "{root}"\nexec "{python}" "{launcher}"\n'
    if system == "Windows":
        return "Studio.lnk", (
            "$s = (New-Object -ComObject WScript.Shell).CreateShortcut($args[0]); "
            f"$s.TargetPath = '{python}'; $s.Arguments = '\"{launcher}\"'; $s.WorkingDirectory = '{root}'; $s.Save()"
        )
    raise ValueError(f"no shortcut for {system}")


def desktop_dir() -> Path:
    return Path(os.environ.get("STUDIO_DESKTOP", Path.home() / "Desktop"))


def main() -> int:
    system = platform.system()
    name, text = shortcut_text(system, sys.executable, ROOT)
    target = desktop_dir() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if system == "Windows":
        subprocess.run(["powershell", "-NoProfile", "-Command", text, str(target)], check=True)
    else:
        target.write_text(text)
        target.chmod(0o755)
    print(f"studio: shortcut written to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
