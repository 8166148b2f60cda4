"""ConvertFunction's work: an upload in a format the provider does not read (WebP, HEIC/HEIF, AVIF, TIFF,
BMP, GIF: ``cutout.imaging.CONVERTED``) made a PNG in the staging prefix of the output bucket, which
SendFunction then presigns for the provider instead of the upload (Novita reads PNG and JPEG only).

When: the state machine runs it before each wait for the upload's submission slot (the ASL's
NeedsConversion). While the slot is more than ``CONVERT_WITHIN_SECONDS`` away it converts nothing and
sets the wait to end ``CONVERT_LEAD_SECONDS`` before the slot; Send, finding the slot not yet come,
sends the execution back here, and now it converts and sets the wait to the rest of the way. So the
conversion never delays a submission past its slot (a late one would crowd the provider's rate limit),
and a staged copy waits minutes for the provider, not the days a backlog may last: the StagingPrefix
lifecycle rule (expiry after a day) is only a backstop. An image rescheduled by Send (a 429, an outage,
the spend cap) comes back here too: a staged copy younger than ``REUSE_SECONDS`` is used again, an older
one (it may expire before the provider fetches it) is made afresh. Only an image whose slot has already
come when it is first converted (an idle schedule) is submitted late, by the conversion's few seconds.

How (``to_png``): Pillow, with pillow-heif's plugin for HEIC/HEIF (Pillow reads AVIF, WebP, TIFF, BMP and
GIF itself). The upload is opened with the decoder of the format admission found and no other
(``Image.open(formats=...)``). The pixel count is checked from the header before a pixel is decoded and
again after (a decoder may change the size as it decodes), against MAX_INPUT_MEGAPIXELS, and Pillow's own
decompression-bomb check (a warning over ``Image.MAX_IMAGE_PIXELS``, an error over twice that) is made an
error: a tiny file that claims a huge size is refused without being decoded. An animated or multi-image
file gives its first frame (a HEIF file its primary image, the one viewers show; a TIFF its first page).
The EXIF orientation is applied (libheif applies a HEIF's own rotation and mirroring, and pillow-heif
resets the EXIF tag so that nothing is turned twice). The result is RGB, or RGBA when the upload has any
transparency; the ICC profile is kept when it describes RGB. A CMYK image (a print TIFF) is converted by
Pillow's plain formula, without colour management, and its CMYK profile, which cannot describe the RGB
result, is dropped: the colours are close, not exact.

Pillow (the imaging layer, ConvertFunction's and WriteResult's only) is imported at the first conversion,
and pillow-heif (libheif) at the first HEIC/HEIF upload a container converts: the cold start does without
both, and so do Convert's many invocations that only set the wait for a slot still far off."""

from __future__ import annotations

import functools
import io
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from PIL import Image

from cutout.errors import ImageConversionError, SourceChangedError, StagingUnavailableError
from cutout.keys import staging_key
from cutout.observability import logger, metrics
from cutout.profiles import is_rgb_profile
from cutout.settings import Settings
from cutout.sources import read
from cutout.state import ExecutionState, Slot, SourceObject

# cutout.imaging's names -> the Pillow plugin that decodes each (pillow-heif's is "HEIF").
DECODERS = {
    "webp": "WEBP",
    "heic": "HEIF",
    "heif": "HEIF",
    "avif": "AVIF",
    "tiff": "TIFF",
    "bmp": "BMP",
    "gif": "GIF",
}
# Convert when the slot is at most this far away; while it is further, wait until CONVERT_LEAD_SECONDS
# before it. The lead is longer than a conversion takes (seconds: bench/bench_conversion.py), the window
# wider than the lead, so that the Wait state's whole seconds and the invocations' own time never make an
# execution come back early once more.
CONVERT_LEAD_SECONDS = 60
CONVERT_WITHIN_SECONDS = 120
# A staged copy made this long ago is used again; an older one is made afresh, so that it cannot expire
# (a day after it was written, at the earliest) before the provider has fetched it.
REUSE_SECONDS = 12 * 3600
# zlib level 1: the staged copy lives minutes and is read once; 9 would take several times longer for a
# file a few per cent smaller.
PNG_COMPRESS_LEVEL = 1


@dataclass(frozen=True)
class Converted:
    """A PNG made from an upload, and what it became: its size, mode and whether it carries a profile."""

    body: bytes
    width: int
    height: int
    mode: str
    icc_profile: bool


def to_png(data: bytes, fmt: str, *, max_megapixels: float) -> Converted:
    """``data`` (an upload whose content is ``fmt``, one of ``DECODERS``) as an upright PNG: see the
    module's docstring. ImageConversionError, saying why, when it cannot be decoded or has too many
    pixels."""
    # Pillow is imported at the first conversion, not at init: most of ConvertFunction's invocations
    # (an upload whose slot is still far off) only set the wait, and decode nothing.
    from PIL import Image, ImageOps

    name = fmt.upper()
    if DECODERS[fmt] == "HEIF":
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[DECODERS[fmt]]) as image:
                _within(image.size, max_megapixels, name)
                image.load()  # the first frame, or a HEIF's primary image
                _within(image.size, max_megapixels, name)
                icc_profile = image.info.get("icc_profile")
                ImageOps.exif_transpose(image, in_place=True)  # in place: no second copy of the pixels
                return _encoded(_rgb(image), icc_profile if is_rgb_profile(icc_profile) else None)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageConversionError(f"{name} refused by Pillow's decompression-bomb check: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageConversionError(f"{name} could not be decoded: {str(exc) or type(exc).__name__}") from None


def _encoded(image: Image.Image, icc_profile: bytes | None) -> Converted:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL, icc_profile=icc_profile)
    return Converted(buffer.getvalue(), image.width, image.height, image.mode, icc_profile is not None)


@functools.cache
def _register_heif() -> None:
    """HEIC/HEIF through Pillow, by pillow-heif's plugin. Embedded thumbnails, depth maps and auxiliary
    images are never used: not loading them keeps memory to the primary image."""
    import pillow_heif

    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def _within(size: tuple[int, int], max_megapixels: float, name: str) -> None:
    width, height = size
    megapixels = width * height / 1_000_000
    if megapixels > max_megapixels:
        raise ImageConversionError(
            f"{name} image is {width}x{height} ({megapixels:.1f} MP), over MAX_INPUT_MEGAPIXELS "
            f"({max_megapixels:g})"
        )


def _rgb(image: Image.Image) -> Image.Image:
    """``image`` as RGB, or RGBA when it has any transparency (alpha, or a colour marked transparent)."""
    if image.mode.startswith("I;16"):
        # 16-bit grey: Pillow's convert() clips at 255 instead of scaling; keep the high byte.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    mode = "RGBA" if image.has_transparency_data else "RGB"
    return image if image.mode == mode else image.convert(mode)


class Converter:
    def __init__(self, *, settings: Settings, s3: Any, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._s3 = s3
        self._clock = clock

    def convert(self, state: ExecutionState) -> ExecutionState:
        """The state with the wait for its slot set: to end CONVERT_LEAD_SECONDS before the slot while it
        is further off than CONVERT_WITHIN_SECONDS; else, once the upload of ``state`` is staged as a PNG
        at ``cutout.keys.staging_key`` (or found staged already), to the rest of the way. An upload
        overwritten since its notification is not converted: Send ends the execution as superseded."""
        if state.convert_from is None:
            return state
        until = state.slot.at - self._clock()
        if until > CONVERT_WITHIN_SECONDS:
            return state.rescheduled(Slot(state.slot.at, math.floor(until - CONVERT_LEAD_SECONDS)))
        self._stage(state.source, state.convert_from)
        return state.rescheduled(Slot.due(state.slot.at, self._clock()))

    def _stage(self, source: SourceObject, fmt: str) -> None:
        key = staging_key(source, self._settings)
        if self._fresh(key):
            logger.info("staged copy made earlier is used again", extra={"staged_key": key})
            return
        try:
            response = read(self._s3.get_object, **source.pinned_read())
            data = response["Body"].read()
        except SourceChangedError:
            logger.info("superseded: the object changed since its notification; not converted")
            return
        started = self._clock()
        converted = to_png(data, fmt, max_megapixels=self._settings.max_input_megapixels)
        self._put(key, converted.body)
        metrics.add_metric(name="ImagesConverted", unit=MetricUnit.Count, value=1)
        logger.info(
            "converted to PNG",
            extra={
                "from": fmt,
                "staged_key": key,
                "size": f"{converted.width}x{converted.height}",
                "mode": converted.mode,
                "icc_profile": converted.icc_profile,
                "bytes": len(converted.body),
                "seconds": round(self._clock() - started, 3),
            },
        )

    def _fresh(self, key: str) -> bool:
        """Whether a staged copy younger than REUSE_SECONDS is at ``key``."""
        try:
            head = self._s3.head_object(Bucket=self._settings.output_bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey"):
                return False
            raise StagingUnavailableError(f"S3 head_object of the staged copy failed: {_code(exc)}") from None
        except BotoCoreError as exc:
            raise StagingUnavailableError(f"S3 head_object failed: {type(exc).__name__}") from None
        modified: datetime = head["LastModified"]
        return self._clock() - modified.timestamp() < REUSE_SECONDS

    def _put(self, key: str, body: bytes) -> None:
        try:
            self._s3.put_object(
                Bucket=self._settings.output_bucket, Key=key, Body=body, ContentType="image/png"
            )
        except ClientError as exc:
            raise StagingUnavailableError(f"S3 put_object of the staged copy failed: {_code(exc)}") from None
        except BotoCoreError as exc:
            raise StagingUnavailableError(f"S3 put_object failed: {type(exc).__name__}") from None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))
