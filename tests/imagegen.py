"""Images made in tests: nothing is downloaded."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image


def to_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient_rgb(w: int = 320, h: int = 320) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    arr = np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                          np.full((h, w, 1), 90, np.float32)], axis=2)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def rgb_icc_profile(primaries: list[tuple[float, float, float]], gamma: float = 2.2, name: str = "Test RGB") -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the given D50 XYZ primaries."""

    def xyz(v):
        return b"XYZ \0\0\0\0" + b"".join(_s15(c) for c in v)

    curv = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    ascii_name = name.encode() + b"\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(ascii_name)) + ascii_name + b"\0" * 4 + b"\0" * 4 + b"\0\0" + b"\0" + b"\0" * 67
    desc += b"\0" * (-len(desc) % 4)
    cprt = b"text\0\0\0\0" + b"none\0"
    cprt += b"\0" * (-len(cprt) % 4)
    tags = [(b"desc", desc), (b"wtpt", xyz((0.9642, 1.0, 0.8249))), (b"rXYZ", xyz(primaries[0])),
            (b"gXYZ", xyz(primaries[1])), (b"bXYZ", xyz(primaries[2])), (b"rTRC", curv), (b"gTRC", curv),
            (b"bTRC", curv), (b"cprt", cprt)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
    header += b"\0" * 12 + b"acsp" + b"\0" * 4 + b"\0" * 4 + b"\0" * 8 + b"\0" * 8 + b"\0" * 4
    header += _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 4 + b"\0" * 44
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


SRGB_D50 = [(0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)]
# Red and green primaries swapped: a file pixel (255, 0, 0) means sRGB green.
SWAPPED_RG_D50 = [SRGB_D50[1], SRGB_D50[0], SRGB_D50[2]]
