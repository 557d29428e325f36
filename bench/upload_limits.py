"""What one key holder's uploads cost the server (issue 37): the peak memory of a 100 MP
backdrop PNG of ~100 KB (grey and RGB), and how quickly a panorama backdrop is refused.
Each backdrop is read in a fresh process; its peak RSS (VmHWM, Linux) is printed.

    python bench/upload_limits.py
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CODE = """import sys, time
from pathlib import Path
from studio.app.backdrops import BackdropError, backdrop_for_photo
def peak():
    return int([x for x in open('/proc/self/status') if x.startswith('VmHWM')][0].split()[1]) // 1024
before, t = peak(), time.perf_counter()
try:
    backdrop_for_photo(Path(sys.argv[1]), Path(sys.argv[1]).name)
    what = 'kept'
except BackdropError as exc:
    what = 'refused: ' + str(exc)[:70]
print(f'{peak() - before} MB, {time.perf_counter() - t:.2f} s, {what}')
"""


def flat_png(width: int, height: int, colour: int) -> bytes:
    """One shade, colour type 0 (grey) or 2 (RGB), compressed row by row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = b"\x00" + bytes([200]) * width * (3 if colour == 2 else 1)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STUDIO_HOME": str(folder / "home")}
    for name, (w, h, colour) in {"grey-100mp.png": (10_000, 10_000, 0), "rgb-100mp.png": (10_000, 10_000, 2),
                                 "panorama-60000x256.png": (60_000, 256, 2)}.items():
        path = folder / name
        t = time.perf_counter()
        path.write_bytes(flat_png(w, h, colour))
        made = time.perf_counter() - t
        out = subprocess.run([sys.executable, "-c", CODE, str(path)], env=env, capture_output=True, text=True)
        print(f"{name:<24} {path.stat().st_size / 1024:7.0f} KB (made in {made:.1f} s): "
              f"{(out.stdout or out.stderr).strip()}")


if __name__ == "__main__":
    main()
