"""ConvertFunction's work: each converted format made an upright PNG (first frame, ICC profile kept),
what cannot be decoded or has too many pixels refused with a reason, and the staged copy written where
SendFunction presigns it, or found there already. Every image is made here, with Pillow and pillow-heif."""

import io
import struct
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from PIL import Image

from cutout.conversion import (
    CONVERT_LEAD_SECONDS,
    CONVERT_WITHIN_SECONDS,
    DECODERS,
    REUSE_SECONDS,
    Converter,
    to_png,
)
from cutout.errors import ImageConversionError, StagingUnavailableError, UnsupportedInputError
from cutout.imaging import CONVERTED, probe
from cutout.keys import staging_key
from cutout.state import ExecutionState, Slot, SourceObject
from tests.support.fakes import Clock, FakeS3, client_error
from tests.support.images import encode, icc_profile

RED, BLUE, GREEN, WHITE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)


def scene(mode: str = "RGB", width: int = 60, height: int = 40) -> Image.Image:
    """White, with a red square in the middle: where a pixel is tells whether the image was turned."""
    image = Image.new(mode, (width, height), WHITE if mode == "RGB" else (*WHITE, 255))
    image.paste(RED if mode == "RGB" else (*RED, 255), (width // 4, height // 4, width // 2, height // 2))
    return image


# (format name as admission gives it, Pillow's save format, save options)
ENCODINGS = [
    ("webp", "WEBP", {"lossless": True}),
    ("heic", "HEIF", {"quality": 95}),
    ("avif", "AVIF", {"quality": 95}),
    ("tiff", "TIFF", {}),
    ("tiff", "TIFF", {"compression": "tiff_lzw"}),
    ("bmp", "BMP", {}),
    ("gif", "GIF", {}),
]


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def close(colour: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


# --- the conversion -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "save_as", "options"), ENCODINGS, ids=[f"{e[1]}{e[2]}" for e in ENCODINGS])
def test_each_converted_format_becomes_a_png_of_the_same_picture(fmt, save_as, options):
    data = encode(scene(), save_as, **options)
    assert probe(data).format == fmt

    image = decoded(to_png(data, fmt, max_megapixels=16).body)

    assert (image.size, image.mode) == ((60, 40), "RGB")
    assert close(image.getpixel((22, 15)), RED)
    assert close(image.getpixel((2, 2)), WHITE)


def test_every_format_admission_converts_has_a_decoder_and_is_tested_here():
    assert set(DECODERS) == set(CONVERTED) == {fmt for fmt, _, _ in ENCODINGS} | {"heif"}


def test_a_heif_file_that_names_no_codec_brand_is_decoded_as_heif():
    data = encode(scene(), "HEIF", quality=95)
    mif1 = data[:8] + b"mif1" + data[12:]  # the major brand of a plain HEIF container
    assert probe(mif1).format == "heic"  # its compatible brands still say HEVC
    assert decoded(to_png(mif1, "heif", max_megapixels=16).body).size == (60, 40)


@pytest.mark.parametrize(("fmt", "save_as"), [("webp", "WEBP"), ("avif", "AVIF"), ("tiff", "TIFF")])
def test_transparency_is_kept_as_alpha(fmt, save_as):
    image = scene("RGBA")
    image.putpixel((0, 0), (0, 0, 0, 0))
    options = {"lossless": True} if fmt == "webp" else {"quality": 100} if fmt == "avif" else {}

    converted = decoded(to_png(encode(image, save_as, **options), fmt, max_megapixels=16).body)

    assert converted.mode == "RGBA"
    assert converted.getpixel((0, 0))[3] == 0
    assert converted.getpixel((22, 15))[3] == 255


def test_a_gif_colour_marked_transparent_becomes_alpha():
    image = scene().convert("P")
    transparent = image.getpixel((0, 0))
    converted = decoded(to_png(encode(image, "GIF", transparency=transparent), "gif", max_megapixels=16).body)
    assert converted.mode == "RGBA"
    assert (converted.getpixel((0, 0))[3], converted.getpixel((22, 15))) == (0, (*RED, 255))


def animation(save_as: str, **options) -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, BLUE, GREEN)]
    return encode(frames[0], save_as, save_all=True, append_images=frames[1:], **options)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("gif", animation("GIF", duration=100, loop=0)),
        ("webp", animation("WEBP", duration=100, loop=0, lossless=True)),
        ("avif", animation("AVIF", duration=100, quality=95)),
        ("heic", animation("HEIF", quality=95)),  # a multi-image HEIF: its primary image is the first
        ("tiff", animation("TIFF")),  # a multi-page TIFF
    ],
)
def test_an_animated_or_multi_image_file_gives_its_first_frame(fmt, data):
    assert Image.open(io.BytesIO(data)).n_frames == 3
    converted = decoded(to_png(data, fmt, max_megapixels=16).body)
    assert close(converted.getpixel((8, 8)), RED)


@pytest.mark.parametrize(
    ("fmt", "save_as"), [("webp", "WEBP"), ("tiff", "TIFF"), ("heic", "HEIF"), ("avif", "AVIF")]
)
def test_the_exif_orientation_is_applied_once(fmt, save_as):
    """Orientation 6 (turn 90 degrees clockwise to show it): a 60x40 picture is shown 40x60, its red
    square in the top right quarter. Pillow turns a WebP by its EXIF here; its TIFF and AVIF readers
    turn the image themselves and drop the tag, as libheif does for a HEIF (pillow-heif resets the tag):
    each is turned once."""
    exif = Image.Exif()
    exif[0x0112] = 6
    lossy = {"quality": 95} if fmt in ("heic", "avif") else {}
    data = encode(scene(), save_as, exif=exif.tobytes(), **lossy)

    converted = decoded(to_png(data, fmt, max_megapixels=16).body)

    assert converted.size == (40, 60)
    assert close(converted.getpixel((25, 22)), RED)
    assert close(converted.getpixel((5, 22)), WHITE)


@pytest.mark.parametrize(("fmt", "save_as"), [("webp", "WEBP"), ("tiff", "TIFF"), ("heic", "HEIF")])
def test_an_rgb_icc_profile_is_kept(fmt, save_as):
    profile = icc_profile("sRGB")
    data = encode(scene(), save_as, icc_profile=profile, **({"quality": 95} if fmt == "heic" else {}))
    converted = to_png(data, fmt, max_megapixels=16)
    assert converted.icc_profile
    assert decoded(converted.body).info["icc_profile"] == profile


def test_a_profile_that_does_not_describe_rgb_is_dropped():
    data = encode(scene(), "TIFF", icc_profile=icc_profile("LAB"))
    converted = to_png(data, "tiff", max_megapixels=16)
    assert not converted.icc_profile
    assert "icc_profile" not in decoded(converted.body).info


def test_a_cmyk_jpeg_in_a_tiff_becomes_rgb():
    cmyk = Image.new("CMYK", (60, 40), (0, 0, 0, 0))
    cmyk.paste((0, 255, 255, 0), (15, 10, 30, 20))  # red in print colours
    data = encode(cmyk, "TIFF", compression="jpeg")

    converted = decoded(to_png(data, "tiff", max_megapixels=16).body)

    assert converted.mode == "RGB"
    assert close(converted.getpixel((22, 15)), RED, tolerance=20)
    assert close(converted.getpixel((2, 2)), WHITE, tolerance=20)


def test_a_16_bit_grey_tiff_keeps_the_high_byte_of_each_sample():
    data = encode(Image.new("I;16", (20, 10), 40000), "TIFF")
    converted = decoded(to_png(data, "tiff", max_megapixels=16).body)
    assert (converted.mode, converted.getpixel((0, 0))) == ("RGB", (156, 156, 156))  # 40000 // 256


# --- what is refused ----------------------------------------------------------------------------------
def gif_claiming(width: int, height: int) -> bytes:
    """A 16x16 GIF whose header (the logical screen) claims ``width`` x ``height``: a few dozen bytes."""
    data = bytearray(encode(Image.new("P", (16, 16)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def test_a_tiny_file_that_claims_billions_of_pixels_is_refused_by_pillows_bomb_check():
    data = gif_claiming(65535, 65535)
    assert len(data) < 100
    with pytest.raises(ImageConversionError) as refused:
        to_png(data, "gif", max_megapixels=10_000)
    assert str(refused.value).startswith("GIF refused by Pillow's decompression-bomb check: Image size")


def test_pillows_bomb_warning_is_a_refusal_too():
    """Over Image.MAX_IMAGE_PIXELS (89.5 MP), under twice that: Pillow only warns, and that refuses."""
    with pytest.raises(ImageConversionError, match="decompression-bomb check"):
        to_png(gif_claiming(10_000, 10_000), "gif", max_megapixels=10_000)


def test_more_pixels_than_the_limit_are_refused_before_decoding():
    with pytest.raises(ImageConversionError) as refused:
        to_png(gif_claiming(5000, 4000), "gif", max_megapixels=16)
    assert str(refused.value) == "GIF image is 5000x4000 (20.0 MP), over MAX_INPUT_MEGAPIXELS (16)"


def test_the_limit_holds_for_a_real_image_too():
    data = encode(scene(width=2000, height=1500), "WEBP")
    with pytest.raises(ImageConversionError, match=r"WEBP image is 2000x1500 \(3.0 MP\), over .* \(2.5\)"):
        to_png(data, "webp", max_megapixels=2.5)


@pytest.mark.parametrize(
    ("fmt", "save_as", "options"),
    [("heic", "HEIF", {"quality": 95}), ("webp", "WEBP", {}), ("avif", "AVIF", {}), ("tiff", "TIFF", {})],
)
def test_a_truncated_file_is_refused_as_undecodable(fmt, save_as, options):
    data = encode(scene(width=200, height=150), save_as, **options)
    with pytest.raises(ImageConversionError) as refused:
        to_png(data[: len(data) // 2], fmt, max_megapixels=16)
    assert str(refused.value).startswith(f"{fmt.upper()} could not be decoded: ")


def test_only_the_decoder_of_the_admitted_format_reads_the_file():
    """A PNG handed over as a WebP is not decoded by the PNG decoder: admission named WebP."""
    with pytest.raises(ImageConversionError, match=r"^WEBP could not be decoded: "):
        to_png(encode(scene(), "PNG"), "webp", max_megapixels=16)


def test_a_refusal_is_an_unsupported_input_for_the_failure_record():
    assert issubclass(ImageConversionError, UnsupportedInputError)


# --- staging ------------------------------------------------------------------------------------------
INPUT, OUTPUT = "cutout-input-123456789012-3f2a9c1e", "cutout-output-123456789012-3f2a9c1e"


class Staging:
    def __init__(self, settings) -> None:
        self.settings = replace(settings, input_bucket=INPUT, output_bucket=OUTPUT)
        self.s3, self.clock = FakeS3(), Clock()
        self.converter = Converter(settings=self.settings, s3=self.s3, clock=self.clock)

    def upload(self, key: str, body: bytes, fmt: str | None) -> ExecutionState:
        etag = self.s3.put_object(Bucket=INPUT, Key=key, Body=body)["ETag"].strip('"')
        source = SourceObject(INPUT, key, etag=etag)
        return ExecutionState.admitted(source, Slot(self.clock.now, 0), self.clock.now, convert_from=fmt)

    def staged(self, state: ExecutionState) -> bytes | None:
        found = self.s3.objects.get((OUTPUT, staging_key(state.source, self.settings)))
        return None if found is None else found["Body"]


@pytest.fixture
def staging(settings):
    return Staging(settings)


def test_the_png_is_staged_where_send_presigns_it_and_the_state_is_unchanged(staging, added_metrics):
    state = staging.upload("uploads/IMG_0001.HEIC", encode(scene(), "HEIF", quality=95), "heic")

    assert staging.converter.convert(state) == state

    assert decoded(staging.staged(state)).size == (60, 40)
    assert (
        staging.s3.objects[(OUTPUT, staging_key(state.source, staging.settings))]["ContentType"]
        == "image/png"
    )
    added_metrics.assert_called_once_with(name="ImagesConverted", unit=MetricUnit.Count, value=1)


def test_while_the_slot_is_far_off_nothing_is_converted_and_the_wait_ends_a_minute_before_it(staging):
    state = staging.upload("uploads/a.gif", encode(scene(), "GIF"), "gif")
    state = replace(state, slot=Slot(staging.clock.now + 3600.4, 3600))

    result = staging.converter.convert(state)

    assert result == state.rescheduled(Slot(state.slot.at, 3600 - CONVERT_LEAD_SECONDS))
    assert staging.staged(state) is None


def test_within_two_minutes_of_the_slot_it_converts_and_waits_the_rest_of_the_way(staging):
    """Converted before the slot: the submission is not delayed by the conversion."""
    state = staging.upload("uploads/a.gif", encode(scene(), "GIF"), "gif")
    state = replace(state, slot=Slot(staging.clock.now + CONVERT_WITHIN_SECONDS, 0))

    result = staging.converter.convert(state)

    assert result == state.rescheduled(Slot(state.slot.at, CONVERT_WITHIN_SECONDS))
    assert decoded(staging.staged(state)).size == (60, 40)


def test_a_slot_that_has_come_is_converted_at_once(staging):
    state = staging.upload("uploads/a.gif", encode(scene(), "GIF"), "gif")
    state = replace(state, slot=Slot(staging.clock.now - 30, 0))
    assert staging.converter.convert(state).slot == Slot(state.slot.at, 0)
    assert staging.staged(state) is not None


def test_an_upload_sent_as_it_is_is_not_touched(staging):
    state = staging.upload("uploads/a.jpg", encode(scene(), "JPEG"), None)
    assert staging.converter.convert(state) == state
    assert list(staging.s3.objects) == [(INPUT, "uploads/a.jpg")]


def test_a_rescheduled_image_uses_its_fresh_staged_copy_again(staging):
    state = staging.upload("uploads/a.webp", encode(scene(), "WEBP"), "webp")
    staging.converter.convert(state)
    staging.s3.objects[(INPUT, "uploads/a.webp")]["Body"] = b"not read again"

    staging.clock.advance(REUSE_SECONDS - 60)
    staging.s3.objects[(OUTPUT, staging_key(state.source, staging.settings))]["LastModified"] = (
        datetime.fromtimestamp(staging.clock.now - REUSE_SECONDS + 60, UTC)
    )
    assert staging.converter.convert(state) == state
    assert decoded(staging.staged(state)).size == (60, 40)


def test_a_staged_copy_that_could_expire_before_the_provider_fetches_it_is_made_afresh(staging):
    state = staging.upload("uploads/a.webp", encode(scene(), "WEBP"), "webp")
    staging.converter.convert(state)
    key = (OUTPUT, staging_key(state.source, staging.settings))
    staging.s3.objects[key]["LastModified"] = datetime.fromtimestamp(staging.clock.now - REUSE_SECONDS, UTC)
    staging.s3.objects[key]["Body"] = b"stale"

    staging.converter.convert(state)

    assert decoded(staging.staged(state)).size == (60, 40)


def test_an_upload_overwritten_since_its_notification_is_left_to_send(staging):
    """Send sees the same (its pinned HEAD answers 412) and ends the execution as superseded."""
    state = staging.upload("uploads/a.gif", encode(scene(), "GIF"), "gif")
    staging.s3.put_object(Bucket=INPUT, Key="uploads/a.gif", Body=encode(scene(), "BMP"))
    assert staging.converter.convert(state) == state
    assert staging.staged(state) is None


def test_an_undecodable_upload_stages_nothing_and_says_why(staging):
    state = staging.upload("uploads/broken.heic", encode(scene(), "HEIF", quality=95)[:300], "heic")
    with pytest.raises(ImageConversionError, match=r"^HEIC could not be decoded: "):
        staging.converter.convert(state)
    assert staging.staged(state) is None


class FailingS3(FakeS3):
    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    def head_object(self, **kwargs):
        if self.failing == "head" and kwargs["Bucket"] == OUTPUT:
            raise client_error("SlowDown", "HeadObject")
        return super().head_object(**kwargs)

    def put_object(self, **kwargs):
        if self.failing == "put" and kwargs["Bucket"] == OUTPUT:
            raise client_error("InternalError", "PutObject")
        return super().put_object(**kwargs)


@pytest.mark.parametrize(("failing", "said"), [("head", "head_object"), ("put", "put_object")])
def test_s3_failing_the_staged_copy_is_retryable(staging, failing, said):
    staging.s3 = FailingS3(failing)
    staging.converter = Converter(settings=staging.settings, s3=staging.s3, clock=staging.clock)
    state = staging.upload("uploads/a.bmp", encode(scene(), "BMP"), "bmp")
    with pytest.raises(StagingUnavailableError, match=f"S3 {said} of the staged copy failed"):
        staging.converter.convert(state)
