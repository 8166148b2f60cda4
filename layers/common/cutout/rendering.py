"""One output of a cutout, rendered as its options ask: cropped to the subject, on a background, the mask
alone, bounded in size, as PNG, WebP or JPEG, with the source's colour profile.

The only module that imports Pillow: import it only where an output needs it (never at a module's top),
so no function's cold start loads Pillow for the outputs that are streamed as they came.

Order of the steps: decode (refusing more pixels than MAX_INPUT_MEGAPIXELS or Pillow's
decompression-bomb limit), take the mask (channels=alpha), crop (the box from the full-resolution
alpha), downscale (Lanczos, on premultiplied alpha, as Pillow's ``resize`` does for RGBA), composite the
background, encode. Each step replaces the image (the one before is freed), so the steps hold about two
full-size images at once; the encoders take memory of their own besides, libwebp's lossless one the most:
20-25 bytes a pixel at WEBP_METHOD 0 while the image is held too, which makes a WebP output the peak of a
render (bench/bench_streaming.py measures it)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageFilter

from cutout.errors import ResultRejectedError
from cutout.options import Colour, Margin, Options
from cutout.profiles import is_rgb_profile

# Alpha from 26 (10 % of 255, rounded up) counts as the subject when looking for its box.
SUBJECT_ALPHA = 26
DECODABLE = ("PNG", "JPEG", "WEBP")  # what the provider's result may be (cutout.results)
JPEG_QUALITY = 90
PNG_COMPRESS_LEVEL = 6  # zlib's default: level 9 is rarely smaller on photographs, and can be far slower
# libwebp's lossless effort, chosen for memory. Method 0 is its low-effort mode, which keeps one set of
# backward references (8 bytes each, about one per pixel of a photograph) where methods 1-6 keep two. The
# encoder alone, on bench/bench_streaming.py's 16-MP cutout: 315 MB at method 0, 381 MB at methods 1-4
# (any quality), up to 540 MB at 5-6; on the same cutout with its subject filling the frame, 390 MB at
# method 0 against 614 MB at Pillow's default (method 4, quality 80). The price: files 15-17 % larger than
# at the default there (5-50 % on small real photographs), made in a third of the time or less at 16 MP.
# For lossless, quality is the effort within a method: 100 gives method 0's smallest files, at no memory
# cost.
WEBP_METHOD = 0
WEBP_QUALITY = 100
WHITE: Colour = (255, 255, 255, 255)
_SUBJECT = [0] * SUBJECT_ALPHA + [255] * (256 - SUBJECT_ALPHA)
_ALL = [0] * 255 + [255]  # after a 3x3 mean of a 0/255 image: 255 only where all nine were 255
_ANY = [0] + [255] * 255  # ... and non-zero where any of them was


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str
    width: int
    height: int


def render(
    cutout: bytes | BinaryIO, options: Options, *, icc_profile: bytes | None, max_megapixels: float
) -> Rendered:
    """``cutout`` (the provider's result, its bytes or a file positioned at its start, which spares
    holding them: an upright RGBA PNG; JPEG or WebP are read too) rendered as
    ``options`` say. ``icc_profile`` (the source's, when it has one) is embedded in the output unless the
    output is the mask or the profile is not an RGB one. ResultRejectedError when the cutout cannot be
    decoded or has more than ``max_megapixels`` (MAX_INPUT_MEGAPIXELS)."""
    image = _decoded(cutout, max_megapixels)
    if options.channels == "alpha":
        image = image.getchannel("A")
    if options.crop == "subject":
        box = subject_box(image if image.mode == "L" else image.getchannel("A"))
        if box is not None:
            image = image.crop(with_margin(box, options.margin, image.size))
    if options.max_size is not None and max(image.size) > options.max_size:
        image = image.resize(scaled(image.size, options.max_size), Image.Resampling.LANCZOS)
    if options.channels == "rgba":
        image = _on_background(image, options)
    profile = icc_profile if image.mode != "L" and is_rgb_profile(icc_profile) else None
    return Rendered(_encoded(image, options, profile), options.content_type, image.width, image.height)


def subject_box(alpha: Image.Image) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom) of the subject in an alpha channel (mode L); None when there is
    no subject.

    Robust to what a background-removal model leaves behind: faint haze and isolated specks. Alpha under
    10 % (SUBJECT_ALPHA) is not the subject; what remains is opened (eroded, then dilated) by a 3x3 square,
    which removes specks and lines under 3 pixels wide and gives back the outline of anything wider, so
    one stray pixel far from the subject cannot stretch the box. (A box holding 99.5 % of the alpha mass
    was the other candidate: it would also cut off genuine parts of the subject whose share of the mass is
    small however wide they are, an antenna or a raised hand.) What this can still cut off: a part of the
    subject under 3 pixels wide that sticks out of the rest of it by more than the margin.

    Erosion and dilation of a 0/255 image are a 3x3 mean (``BoxBlur(1)``) then a threshold: the mean is
    255 only where all nine pixels are, and non-zero where any is (4 times faster than MinFilter and
    MaxFilter, the same result)."""
    solid = alpha.point(_SUBJECT)
    eroded = solid.filter(ImageFilter.BoxBlur(1)).point(_ALL)
    opened = eroded.filter(ImageFilter.BoxBlur(1)).point(_ANY)
    return opened.getbbox()


def with_margin(
    box: tuple[int, int, int, int], margin: Margin, size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``box`` grown by the margin on each side, clamped to the image (no padding is added)."""
    left, top, right, bottom = box
    pad = margin.pixels(right - left, bottom - top)
    return max(0, left - pad), max(0, top - pad), min(size[0], right + pad), min(size[1], bottom + pad)


def scaled(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """``size`` scaled so that its longer side is ``longest``, the aspect ratio kept."""
    scale = longest / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def flattened(colour: Colour) -> tuple[int, int, int]:
    """A colour with alpha as it looks on white."""
    red, green, blue, alpha = colour

    def over_white(value: int) -> int:
        return round((value * alpha + 255 * (255 - alpha)) / 255)

    return over_white(red), over_white(green), over_white(blue)


def _decoded(data: bytes | BinaryIO, max_megapixels: float) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data, formats=DECODABLE)
        megapixels = image.width * image.height / 1_000_000
        if megapixels > max_megapixels:
            raise ResultRejectedError(
                f"result is {image.width}x{image.height} ({megapixels:.1f} MP), over MAX_INPUT_MEGAPIXELS "
                f"({max_megapixels:g}): not rendered"
            )
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ResultRejectedError(f"result refused by Pillow's decompression-bomb check: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ResultRejectedError(f"result could not be decoded as PNG, JPEG or WebP: {exc}") from None
    return image if image.mode == "RGBA" else image.convert("RGBA")


def _on_background(image: Image.Image, options: Options) -> Image.Image:
    """JPEG has no alpha: flattened onto the background, white by default (a background with alpha onto
    white first). An opaque background gives an RGB image; one with alpha keeps the alpha it makes."""
    background = options.background
    if options.format == "jpg":
        colour = flattened(background or WHITE)
    elif background is None:
        return image
    elif background[3] < 255:
        return Image.alpha_composite(Image.new("RGBA", image.size, background), image)
    else:
        colour = background[:3]
    flat = Image.new("RGB", image.size, colour)
    flat.paste(image, (0, 0), image)
    return flat


def _encoded(image: Image.Image, options: Options, icc_profile: bytes | None) -> bytes:
    """PNG (zlib level 6), WebP (lossless at WEBP_METHOD and WEBP_QUALITY; ``exact`` keeps the colour
    of transparent pixels, which libwebp would otherwise change) or JPEG (quality 90). WebP has no
    grayscale: a mask is stored as RGB with equal channels. ``icc_profile`` is always given, None
    included: PNG would otherwise embed the profile the provider's result carried, even in the mask."""
    buffer = io.BytesIO()
    if options.format == "png":
        image.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL, icc_profile=icc_profile)
    elif options.format == "webp":
        # Registers WEBP alone: without it, save() imports every plugin Pillow has to find it (Image.init).
        from PIL import WebPImagePlugin  # noqa: F401

        image.save(
            buffer,
            "WEBP",
            lossless=True,
            exact=True,
            method=WEBP_METHOD,
            quality=WEBP_QUALITY,
            icc_profile=icc_profile,
        )
    else:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, icc_profile=icc_profile)
    return buffer.getvalue()
