"""Safe decoding of uploads.

`ingest_bytes` turns whatever a user drops in into an sRGB RGB or RGBA image, or
raises `IngestError` with a code and a sentence a person can act on. The original
bytes are never modified; callers keep them as an artifact.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import stat
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from studio.config import Limits

# Never let Pillow decode a partially-read file silently.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class IngestError(ValueError):
    """An upload Studio will not use. `code` is stable; `message` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class IngestedImage:
    image: Image.Image  # mode RGB or RGBA, sRGB
    original: bytes
    sha256: str
    source_format: str  # e.g. "JPEG", "PNG"
    source_mode: str  # Pillow mode before normalising, e.g. "CMYK", "I;16"
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def mode(self) -> str:
        return self.image.mode


_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")


def _looks_like_heif(data: bytes) -> bool:
    return len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def _heif_available() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def read_limited(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file, refusing folders, devices and pipes (a symlink to
    /dev/zero never ends) and reading at most `limit` + 1 bytes whatever `stat` said."""
    path = Path(path)
    name = path.name or str(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise IngestError("unreadable", f"{name}: cannot read the file ({exc.strerror or exc}).") from exc
    if stat.S_ISDIR(st.st_mode):
        raise IngestError("not_a_file", f"{name}: is a folder, not a photo.")
    if not stat.S_ISREG(st.st_mode):
        raise IngestError("not_a_file", f"{name}: is not a regular file (a device or a pipe), so it is not read.")
    if st.st_size > limit:
        raise IngestError("too_large", f"{name}: {st.st_size / 1e6:.1f} MB is over the {limit / 1e6:.0f} MB upload limit.")
    try:
        with path.open("rb") as fh:
            data = fh.read(st.st_size + 1)  # not limit + 1: Python sets aside what it is asked for
            if len(data) > st.st_size:  # it grew while we read it
                data += fh.read(limit + 1 - len(data))
    except OSError as exc:
        raise IngestError("unreadable", f"{name}: cannot read the file ({exc.strerror or exc}).") from exc
    if len(data) > limit:  # it grew while we read it
        raise IngestError("too_large", f"{name}: over the {limit / 1e6:.0f} MB upload limit.")
    return data


def header_size(data: bytes, name: str = "upload") -> tuple[int, int]:
    """(width, height) from the image's header, nothing decoded (IngestError when it is
    not an image Studio reads)."""
    if not data:
        raise IngestError("empty", f"{name}: the file is empty.")
    if _looks_like_heif(data) and not _heif_available():
        raise IngestError("unsupported", f"{name}: HEIC/HEIF photos need the optional support: pip install 'studio[heic]'.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError as exc:
        raise IngestError("too_many_pixels", f"{name}: the image is too large to decode safely.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise IngestError("not_image", f"{name}: this is not an image Studio can read (JPEG, PNG, WebP, TIFF, GIF, HEIC).") from exc


def ingest_file(path: str | Path, limits: Limits | None = None, check_only: bool = False) -> IngestedImage:
    limits = limits or Limits()
    return ingest_bytes(read_limited(path, limits.max_upload_bytes), Path(path).name, limits, check_only)


# one large decode at a time in this process, where a caller asks (`one_at_a_time`):
# a server's requests decoding backdrops in parallel would each hold a frame
_LARGE_DECODE = threading.Lock()
LARGE_PIXELS = 16_000_000


def ingest_bytes(data: bytes, name: str = "upload", limits: Limits | None = None,
                 check_only: bool = False, long_side_at_least: int | None = None,
                 shrink_to: int | None = None, one_at_a_time: bool = False) -> IngestedImage:
    """The upload as an upright sRGB image, or an IngestError saying what is wrong.
    `check_only`: the same checks, but a JPEG is decoded at an eighth of its size and
    any other format reduced right after decoding, one large one at a time (every byte
    is still read, so a damaged file is still found; the image returned is small): for
    a caller that keeps only the bytes, such as a job queued now and decoded by its
    stage later.
    `long_side_at_least`: a JPEG may be decoded at a half, a quarter or an eighth of its
    size (libjpeg's DCT scaling: several times quicker than decoding it whole and
    shrinking it) as long as its long side stays at least this.
    `shrink_to`: the image is wanted at most about this long side (a backdrop, a
    reference): a JPEG is decoded scaled, any other format is reduced by a whole factor
    right after decoding, before its colours are converted (a palette or grey frame of
    100 MP is never made into an RGB one). `one_at_a_time`: a large decode waits for
    another one in this process to end, so parallel requests hold one frame, not N."""
    limits = limits or Limits()
    if not data:
        raise IngestError("empty", f"{name}: the file is empty.")
    if len(data) > limits.max_upload_bytes:
        raise IngestError("too_large", f"{name}: {len(data) / 1e6:.1f} MB is over the {limits.max_upload_bytes / 1e6:.0f} MB upload limit.")
    if _looks_like_heif(data) and not _heif_available():
        raise IngestError("unsupported", f"{name}: HEIC/HEIF photos need the optional support: pip install 'studio[heic]'.")

    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # Our own pixel limit decides; Pillow's bomb warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise IngestError("not_image", f"{name}: this is not an image Studio can read (JPEG, PNG, WebP, TIFF, GIF, HEIC).") from exc
    except Image.DecompressionBombError as exc:
        raise IngestError("too_many_pixels", f"{name}: the image is too large to decode safely.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise IngestError("corrupt", f"{name}: the file is damaged ({exc}).") from exc

    w, h = im.size
    if w * h > limits.max_pixels:
        raise IngestError("too_many_pixels", f"{name}: {w}×{h} is {w * h / 1e6:.0f} MP, over the {limits.max_pixels / 1e6:.0f} MP limit.")
    source_format = im.format or "unknown"
    if getattr(im, "is_animated", False) and getattr(im, "n_frames", 1) > 1:
        notes.append(f"animated image with {im.n_frames} frames: the first frame is used")
        im.seek(0)
    if min(w, h) < limits.min_side:  # from the header: a sliver is never decoded
        raise IngestError("too_small", f"{name}: {w}×{h} is too small; the short side needs at least {limits.min_side} px.")
    if check_only:
        shrink_to, one_at_a_time = shrink_to or 1024, True
    at_least = long_side_at_least or shrink_to
    if check_only and im.format == "JPEG":
        im.draft(im.mode, (max(1, w // 8), max(1, h // 8)))
    elif at_least and im.format == "JPEG" and max(w, h) > at_least:
        f = at_least / max(w, h)
        im.draft(im.mode, (max(1, int(w * f)), max(1, int(h * f))))  # it keeps at least this size
    lock = _LARGE_DECODE if one_at_a_time and w * h > LARGE_PIXELS else contextlib.nullcontext()
    with lock:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im.load()
        except Image.DecompressionBombError as exc:
            raise IngestError("too_many_pixels", f"{name}: the image is too large to decode safely.") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise IngestError("corrupt", f"{name}: the file is truncated or damaged ({exc}).") from exc
        if shrink_to and max(im.size) >= 2 * shrink_to:
            im = _reduced(im, max(im.size) // shrink_to)

    if long_side_at_least and not check_only and im.size != (w, h):
        notes.append(f"decoded at {im.width}×{im.height} (the {w}×{h} JPEG scaled by libjpeg)")
    source_mode = im.mode
    im = _apply_orientation(im, notes)
    im = _to_srgb(im, notes)
    return IngestedImage(im, data, hashlib.sha256(data).hexdigest(), source_format, source_mode, notes)


def _reduced(im: Image.Image, factor: int) -> Image.Image:
    """`im` made `factor` times smaller, in its own mode (a box filter; a palette image by
    nearest pixels, which keeps its palette), its metadata (EXIF, colour profile) kept."""
    size = (max(1, im.width // factor), max(1, im.height // factor))
    if im.mode in ("P", "1", "PA"):
        out = im.resize(size, Image.Resampling.NEAREST)
    else:
        try:
            out = im.reduce(factor)
        except ValueError:  # a mode reduce does not take (16-bit, CMYK): resized instead
            out = im.resize(size, Image.Resampling.BOX)
    out.info = dict(im.info)
    return out


def _apply_orientation(im: Image.Image, notes: list[str]) -> Image.Image:
    orientation = im.getexif().get(0x0112, 1)
    if orientation in (None, 1):
        return im
    out = ImageOps.exif_transpose(im)
    notes.append(f"rotated upright from EXIF orientation {orientation}")
    return out


def _high_bit_to_8bit(im: Image.Image) -> Image.Image:
    """16-bit or 32-bit grayscale → 8-bit L, keeping the full range."""
    arr = np.asarray(im)
    if im.mode == "F":
        arr8 = np.clip(arr * 255.0 + 0.5, 0, 255)
    else:
        # I;16 holds 0..65535; mode I from a 16-bit PNG does too.
        arr8 = np.clip(arr.astype(np.float64) / 257.0 + 0.5, 0, 255)
    return Image.fromarray(arr8.astype(np.uint8), "L")


_SRGB = None


def _srgb_profile():
    global _SRGB
    if _SRGB is None:
        _SRGB = ImageCms.createProfile("sRGB")
    return _SRGB


def _to_srgb(im: Image.Image, notes: list[str]) -> Image.Image:
    icc = im.info.get("icc_profile")
    has_transparency = "transparency" in im.info

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        im = _high_bit_to_8bit(im)
        notes.append("16-bit image reduced to 8 bits per channel")
    if im.mode == "P":
        im = im.convert("RGBA" if has_transparency else "RGB")
    elif im.mode in ("LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif im.mode in ("L", "1") and has_transparency:
        im = im.convert("RGBA")

    if icc and im.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            desc = ImageCms.getProfileDescription(src).strip()
            alpha = im.getchannel("A") if im.mode == "RGBA" else None
            base = im.convert("RGB") if im.mode == "RGBA" else im
            converted = ImageCms.profileToProfile(base, src, _srgb_profile(), outputMode="RGB",
                                                  renderingIntent=ImageCms.Intent.PERCEPTUAL)
            if converted is not None:
                im = converted
                if alpha is not None:
                    im.putalpha(alpha)
                if "srgb" not in desc.lower():
                    notes.append(f"converted from the embedded colour profile '{desc}' to sRGB")
        except (OSError, ImageCms.PyCMSError, ValueError) as exc:
            notes.append(f"embedded colour profile ignored ({exc})")
    if im.mode == "CMYK":
        notes.append("CMYK image converted to RGB without a profile")
        im = im.convert("RGB")
    if im.mode == "RGBA":
        if im.getchannel("A").getextrema() == (255, 255):
            im = im.convert("RGB")
    elif im.mode != "RGB":
        im = im.convert("RGB")
    im.info.pop("icc_profile", None)
    return im
