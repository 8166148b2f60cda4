"""Test images made on the fly with Pillow, or by hand where Pillow cannot write them (no downloads)."""

import io
import struct
import zlib

import numpy as np
import pillow_heif
from PIL import Image, ImageCms

pillow_heif.register_heif_opener()  # HEIC/HEIF as a Pillow format ("HEIF"), written and read


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(width: int = 64, height: int = 48, fmt: str = "JPEG", mode: str = "RGB", **options) -> bytes:
    """A subject on a plain background, so a cutout has something to find."""
    image = Image.new(mode, (width, height), "white" if mode != "CMYK" else (0, 0, 0, 0))
    square = Image.new(mode, (width // 2, height // 2), "red" if mode != "CMYK" else (0, 255, 255, 0))
    image.paste(square, (width // 4, height // 4))
    return encode(image, fmt, **options)


def png16(samples: np.ndarray) -> bytes:
    """A 16-bit PNG of `samples` (uint16, height x width x 1-4 channels: grey, grey+alpha, RGB, RGBA),
    which Pillow cannot write beyond grey."""
    height, width, channels = samples.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def cutout(
    width: int = 64,
    height: int = 48,
    box: tuple[int, int, int, int] = (16, 12, 48, 36),
    colour: tuple[int, int, int] = (255, 0, 0),
) -> Image.Image:
    """A provider's cutout (RGBA): an opaque subject of ``colour`` filling ``box`` (left, top, right,
    bottom), transparent black around it."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((*colour, 255), box)
    return image


def icc_profile(colour_space: str = "sRGB") -> bytes:
    """A real ICC profile (``sRGB``, or ``LAB`` for one that is not RGB), as a file embeds it."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile(colour_space)).tobytes()
