"""Input checks (format by magic bytes, pixel cap), decoding with EXIF orientation, and output encoding."""

import io

import numpy as np
from PIL import Image, ImageOps

# What Novita's background removal reads (docs/PROVIDER-CONTRACT.md: PNG and JPEG): anything else, WebP
# included, fails the task with UNSUPPORTED_IMAGE_FORMAT, as there. Cutout converts the other formats first.
FORMATS = ("jpeg", "png")
OUTPUT_TYPES = ("png", "webp", "jpeg")
DEFAULT_MAX_PIXELS = 16 * 1024 * 1024


class InputError(Exception):
    """The input is not an image this provider accepts. `str(error)` is the task's `reason`."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def sniff_format(data: bytes) -> str | None:
    """The image format named by the first bytes (`jpeg`, `png`, `webp`: WebP is named to be refused),
    or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def open_image(data: bytes, *, max_pixels: int, formats: tuple[str, ...] = FORMATS) -> Image.Image:
    """Decode `data` into an upright RGB image, refusing other formats and more than `max_pixels`.

    The pixel count is checked from the header, before anything is decoded. Whatever Pillow decodes the
    input to (16-bit grey, palette, grey+alpha, CMYK...) ends as the RGB colours a viewer shows on a white
    page: see `_to_rgb`.
    """
    fmt = sniff_format(data)
    if fmt is None or fmt not in formats:
        raise InputError("UNSUPPORTED_IMAGE_FORMAT", f"the input is not a {'/'.join(formats)} image")
    try:
        with Image.open(io.BytesIO(data), formats=[fmt.upper()]) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise InputError(
                    "IMAGE_TOO_MANY_PIXELS", f"{width}x{height} is more than {max_pixels} pixels"
                )
            return _to_rgb(ImageOps.exif_transpose(img))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InputError("IMAGE_DECODE_FAILED", f"the {fmt} image could not be decoded ({e})") from e


def _to_rgb(image: Image.Image) -> Image.Image:
    """`image` in RGB, 8 bits a channel, any transparency composited onto white.

    Pillow reads 16-bit RGB(A) PNGs as 8-bit RGB(A) (the high byte of each sample), but 16-bit grey as
    mode I;16, which its own `convert` clips to 255 instead of scaling: it is scaled here the same way.
    An input's transparency (an alpha channel, a palette or grey or RGB colour marked transparent) is
    composited onto white, as a viewer shows it on a white page: the colour a transparent pixel hides
    (often black) never reaches the model, and the cutout's alpha is the model's matte alone.
    CMYK JPEGs are converted by Pillow (Adobe's inverted CMYK, as Photoshop writes it; no ICC profile).
    """
    if image.mode.startswith("I;16"):
        image = _high_byte(image)
    if not image.has_transparency_data:
        return image.convert("RGB")
    return _on_white(image.convert("RGBA"))


def _high_byte(image: Image.Image) -> Image.Image:
    """A 16-bit grey image as L (LA when a grey level is marked transparent, which Pillow does not apply
    to I;16 images): the high byte of each sample, as for Pillow's 16-bit RGB."""
    samples = np.asarray(image)
    grey = Image.fromarray((samples >> 8).astype(np.uint8))
    if "transparency" in image.info:
        grey.putalpha(
            Image.fromarray(np.where(samples == image.info["transparency"], 0, 255).astype(np.uint8))
        )
    return grey


def _on_white(image: Image.Image) -> Image.Image:
    """An RGBA image flattened onto a white background, in RGB."""
    flat = Image.new("RGB", image.size, (255, 255, 255))
    flat.paste(image, mask=image.getchannel("A"))
    return flat


def encode(image: Image.Image, image_type: str = "png") -> bytes:
    """Encode an RGBA cutout as `png` or lossless `webp` (alpha kept), or `jpeg` (flattened on white)."""
    buf = io.BytesIO()
    if image_type == "png":
        image.save(buf, "PNG", compress_level=3)  # 0.1 s for 1 MP instead of 0.3 s at 6, 12 % larger
    elif image_type == "webp":
        image.save(buf, "WEBP", lossless=True)
    elif image_type == "jpeg":
        _on_white(image).save(buf, "JPEG", quality=90)
    else:
        raise ValueError(f"unknown image type {image_type!r}; expected one of {OUTPUT_TYPES}")
    return buf.getvalue()
