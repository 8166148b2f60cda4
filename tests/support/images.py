"""Test images made on the fly with Pillow (no files to download)."""

import io

from PIL import Image


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
