"""Every upload hazard, with images made here, each with its exact outcome."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.config import Limits
from studio.imaging import io as ingest_io
from studio.imaging.io import IngestError, ingest_bytes, ingest_file
from tests.imagegen import SWAPPED_RG_D50, gradient_rgb, rgb_icc_profile, to_bytes


def rejected(data: bytes, code: str, limits: Limits | None = None, name: str = "photo.jpg") -> str:
    with pytest.raises(IngestError) as info:
        ingest_bytes(data, name, limits)
    assert info.value.code == code
    assert name in info.value.message
    return info.value.message


def test_plain_jpeg_keeps_original_bytes():
    data = to_bytes(gradient_rgb(400, 300), "JPEG", quality=92)
    img = ingest_bytes(data, "photo.jpg")
    assert img.size == (400, 300) and img.mode == "RGB"
    assert img.original == data and img.source_format == "JPEG" and img.notes == []


def test_exif_orientation_is_applied():
    arr = np.zeros((300, 400, 3), np.uint8)
    arr[:, :200] = (255, 0, 0)  # left half red
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    img = ingest_bytes(to_bytes(im, "JPEG", exif=exif.tobytes(), quality=95), "rot.jpg")
    assert img.size == (300, 400)
    top = np.asarray(img.image)[10, 150]
    bottom = np.asarray(img.image)[390, 150]
    assert top[0] > 200 and top[1] < 50  # the red half is now on top
    assert bottom.max() < 50
    assert any("orientation 6" in n for n in img.notes)


def test_cmyk_jpeg_becomes_rgb():
    im = Image.new("CMYK", (300, 300), (0, 255, 255, 0))  # pure red in CMYK
    img = ingest_bytes(to_bytes(im, "JPEG", quality=95), "cmyk.jpg")
    assert img.mode == "RGB" and img.source_mode == "CMYK"
    r, g, b = np.asarray(img.image)[150, 150]
    assert r > 240 and g < 15 and b < 15


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16bit_grayscale_keeps_full_range(fmt):
    arr = np.zeros((300, 300), np.uint16)
    arr[:, :100] = 65535
    arr[:, 100:200] = 32896  # 128 * 257
    im = Image.fromarray(arr)
    img = ingest_bytes(to_bytes(im, fmt), f"deep.{fmt.lower()}")
    out = np.asarray(img.image)
    assert img.mode == "RGB" and img.source_mode.startswith("I")
    assert tuple(out[5, 5]) == (255, 255, 255)
    assert tuple(out[5, 150]) == (128, 128, 128)
    assert tuple(out[5, 250]) == (0, 0, 0)
    assert any("16-bit" in n for n in img.notes)


def test_palette_with_transparency_becomes_rgba():
    im = Image.new("P", (300, 300), 1)
    im.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    im.paste(0, (0, 0, 100, 300))
    img = ingest_bytes(to_bytes(im, "PNG", transparency=0), "pal.png")
    a = np.asarray(img.image)
    assert img.mode == "RGBA"
    assert a[10, 10, 3] == 0 and tuple(a[10, 200]) == (200, 30, 30, 255)


def test_palette_without_transparency_becomes_rgb():
    im = Image.new("P", (300, 300), 1)
    im.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    img = ingest_bytes(to_bytes(im, "PNG"), "pal.png")
    assert img.mode == "RGB" and tuple(np.asarray(img.image)[5, 5]) == (200, 30, 30)


def test_la_becomes_rgba_and_opaque_rgba_becomes_rgb():
    la = Image.merge("LA", (Image.new("L", (300, 300), 120), Image.new("L", (300, 300), 60)))
    img = ingest_bytes(to_bytes(la, "PNG"), "la.png")
    assert img.mode == "RGBA" and tuple(np.asarray(img.image)[0, 0]) == (120, 120, 120, 60)
    opaque = Image.new("RGBA", (300, 300), (10, 20, 30, 255))
    assert ingest_bytes(to_bytes(opaque, "PNG"), "o.png").mode == "RGB"


def test_grayscale_becomes_rgb():
    img = ingest_bytes(to_bytes(Image.new("L", (300, 300), 77), "PNG"), "g.png")
    assert img.mode == "RGB" and tuple(np.asarray(img.image)[0, 0]) == (77, 77, 77)


def test_webp():
    img = ingest_bytes(to_bytes(gradient_rgb(), "WEBP", lossless=True), "p.webp")
    assert img.source_format == "WEBP" and img.mode == "RGB"
    assert np.array_equal(np.asarray(img.image), np.asarray(gradient_rgb()))


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_uses_first_frame_and_says_so(fmt):
    frames = [Image.new("RGB", (300, 300), c) for c in [(250, 0, 0), (0, 0, 250), (0, 250, 0)]]
    data = to_bytes(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0,
                    **({"lossless": True} if fmt == "WEBP" else {}))
    img = ingest_bytes(data, f"anim.{fmt.lower()}")
    r, g, b = np.asarray(img.image)[150, 150][:3]
    assert r > 200 and g < 40 and b < 40
    assert any("animated image with 3 frames" in n for n in img.notes)


def test_icc_profile_is_converted_to_srgb():
    im = Image.new("RGB", (300, 300), (255, 0, 0))
    icc = rgb_icc_profile(SWAPPED_RG_D50, name="Swapped RG")
    img = ingest_bytes(to_bytes(im, "PNG", icc_profile=icc), "icc.png")
    r, g, b = np.asarray(img.image)[0, 0]
    assert g > 230 and r < 40 and b < 40  # the swapped profile's "red" is sRGB green
    assert any("Swapped RG" in n for n in img.notes)
    assert "icc_profile" not in img.image.info


def test_heic_without_support_says_how_to_add_it(monkeypatch):
    monkeypatch.setattr(ingest_io, "_heif_available", lambda: False)
    data = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64
    msg = rejected(data, "unsupported", name="IMG_0001.HEIC")
    assert "studio[heic]" in msg


def test_heic_with_pillow_heif():
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    data = to_bytes(gradient_rgb(320, 256), "HEIF", quality=95)
    img = ingest_bytes(data, "IMG_0002.HEIC")
    assert img.size == (320, 256) and img.mode == "RGB"


def test_empty_file():
    rejected(b"", "empty")


def test_truncated_jpeg():
    data = to_bytes(gradient_rgb(600, 600), "JPEG", quality=95)
    rejected(data[: len(data) // 2], "corrupt")


def test_truncated_png():
    data = to_bytes(gradient_rgb(600, 600), "PNG")
    rejected(data[: len(data) * 2 // 3], "corrupt", name="cut.png")


def test_text_with_image_extension():
    rejected(b"hello, this is not a picture\n" * 20, "not_image", name="fake.jpg")


def test_decompression_bomb_is_refused_before_decoding():
    bomb = to_bytes(Image.new("1", (12_000, 12_000)), "PNG")  # 144 MP in a few kB
    assert len(bomb) < 100_000
    msg = rejected(bomb, "too_many_pixels", name="bomb.png")
    assert "144 MP" in msg


def test_huge_bomb_beyond_pillows_own_limit():
    bomb = to_bytes(Image.new("1", (20_000, 20_000)), "PNG")
    rejected(bomb, "too_many_pixels", limits=Limits(max_pixels=10**12), name="bigbomb.png")


def test_too_small():
    msg = rejected(to_bytes(Image.new("RGB", (200, 600)), "PNG"), "too_small", name="thumb.png")
    assert "200×600" in msg


def test_over_byte_limit(tmp_path):
    data = to_bytes(gradient_rgb(), "PNG")
    rejected(data, "too_large", limits=Limits(max_upload_bytes=len(data) - 1), name="big.png")
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(IngestError) as info:
        ingest_file(path, Limits(max_upload_bytes=1000))
    assert info.value.code == "too_large"


def test_missing_file(tmp_path):
    with pytest.raises(IngestError) as info:
        ingest_file(tmp_path / "nope.jpg")
    assert info.value.code == "unreadable"


def test_shipped_photo_from_installed_package():
    import skimage

    path = f"{skimage.data.__path__[0]}/coffee.png"
    img = ingest_file(path)
    assert img.size == (600, 400) and img.mode == "RGB"
    assert img.sha256 == __import__("hashlib").sha256(open(path, "rb").read()).hexdigest()

