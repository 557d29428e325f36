"""Studio launcher: first-run setup, then the app (or the test suite).

    python launcher.py                 set up if needed, then open the app
    python launcher.py --no-browser    ... without opening a browser
    python launcher.py --port 7870 --listen --auth user:pass
    python launcher.py test [pytest args]
    python launcher.py setup           only set up (used by installer/)

Standard library only: this file runs before anything is installed, possibly on an
old Python, so the version check comes before any modern syntax is imported.
"""

from __future__ import annotations

import sys

MIN_PYTHON = (3, 11)
if sys.version_info < MIN_PYTHON:
    # %-formatting, not f-strings: this line must parse on very old Pythons.
    sys.stderr.write("Studio needs Python %d.%d or newer; this is %d.%d. Install it from python.org and run `python3.11 launcher.py`.\n" % (MIN_PYTHON + sys.version_info[:2]))  # noqa: UP031
    raise SystemExit(1)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import venv  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from installer.torch_build import (  # noqa: E402
    apply_override,
    choose_torch_build,
    detect_compute_cap,
    detect_nvidia_driver,
    detect_nvidia_memory_gb,
    quant_extra,
)

VENV = Path(os.environ.get("STUDIO_VENV", ROOT / ".venv"))
STAMP = VENV / "studio-install.json"
LOG = VENV / "install.log"
OLD_DIST_NAME = "studio"  # the distribution's name until 0.1.0; another project's on the package index
# A CUDA torch build with its libraries is ~6 GB once unpacked, the rest ~2 GB.
NEEDED_FREE_BYTES = 8 * 1024**3


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_key(torch_key: str) -> str:
    h = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    h.update(torch_key.encode())
    return h.hexdigest()


def dist_name() -> str:
    """The distribution's name on the package index (the import package and command are `studio`)."""
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]


def read_stamp() -> dict:
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}


def fail(message: str) -> None:
    sys.stderr.write("studio: " + message + "\n")
    raise SystemExit(1)


def pip(args: list[str], what: str) -> None:
    print(f"studio: {what} ...", flush=True)
    with open(LOG, "a") as log:
        log.write(f"\n$ pip {' '.join(args)}\n")
        log.flush()
        code = subprocess.call([str(venv_python()), "-m", "pip", *args], stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        fail(f"install failed while {what} (pip exit {code}); see the log: {LOG}")


def setup(extras: set[str]) -> None:
    """Create .venv and install torch + the package, unless the stamp says it is current."""
    driver = detect_nvidia_driver()
    cap = detect_compute_cap() if driver else None
    build = apply_override(choose_torch_build(platform.system(), platform.machine(), driver, cap))
    memory = detect_nvidia_memory_gb() if driver else None
    # the 4-bit plans are how cards under 24 GB run the big models: they need bitsandbytes
    add_quant = quant_extra(memory) and "quant" not in extras
    if add_quant:
        extras = extras | {"quant"}
    key = install_key(build.key())
    stamp = read_stamp()
    if stamp.get("key") == key and extras <= set(stamp.get("extras", [])) and venv_python().exists():
        return
    free = shutil.disk_usage(ROOT).free
    if free < NEEDED_FREE_BYTES and stamp.get("torch") != build.key():
        fail(f"not enough disk space: {free / 1024**3:.1f} GB free in {ROOT}, the first install needs "
             f"about {NEEDED_FREE_BYTES // 1024**3} GB.")
    if not venv_python().exists():
        print(f"studio: creating {VENV}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except Exception as exc:  # venv raises CalledProcessError, OSError, ...
            fail(f"could not create the virtual environment {VENV}: {exc}")
    print(f"studio: torch {build.torch} ({build.note})", flush=True)
    if add_quant:
        print(f"studio: an NVIDIA card with {memory:.0f} GB: installing bitsandbytes for the 4-bit plans", flush=True)
    if stamp.get("torch") != build.key():
        pip(["install", *build.pip_args()], f"installing torch {build.torch} / torchvision {build.torchvision}")
    if stamp and stamp.get("dist") != dist_name():
        # installed before the distribution had its own name: two would both own `studio`
        pip(["uninstall", "-y", OLD_DIST_NAME], f"removing the old {OLD_DIST_NAME!r} distribution")
    spec = "." + (f"[{','.join(sorted(extras))}]" if extras else "")
    # Keep the torch pair pinned while the package's dependencies resolve.
    pip(["install", "-e", spec, *build.requirements()], "installing Studio and its dependencies")
    STAMP.write_text(json.dumps({"key": key, "torch": build.key(), "extras": sorted(extras), "dist": dist_name()},
                                indent=2))
    print("studio: setup complete", flush=True)


def run_app(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="launcher.py", description="Set up Studio if needed and start it.")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--listen", action="store_true", help="bind to all interfaces (needs --auth)")
    parser.add_argument("--auth", help="user:password, required with --listen")
    args = parser.parse_args(argv)
    setup(set())
    cmd = [str(venv_python()), "-m", "studio", "serve", "--port", str(args.port)]
    if args.no_browser:
        cmd.append("--no-browser")
    if args.listen:
        cmd.append("--listen")
    if args.auth:
        cmd += ["--auth", args.auth]
    return subprocess.call(cmd)


def run_tests(argv: list[str]) -> int:
    setup({"test", "cluster"})
    return subprocess.call([str(venv_python()), "-m", "pytest", *argv], cwd=ROOT)


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["test"]:
            return run_tests(argv[1:])
        if argv[:1] == ["setup"]:
            setup(set(argv[1:]))
            return 0
        return run_app(argv)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
