"""Issue 13 item 6 through the whole local stack: an upload in each format the provider does not read
(the local provider, like Novita, reads PNG and JPEG only) is converted when its slot comes and cut out;
what cannot be converted gets a failure record that says why."""

import io

import pytest
from PIL import Image

from tests.support.images import encode, icc_profile, photo

pytestmark = pytest.mark.e2e


def animated_gif() -> bytes:
    """A red subject on white, then two other frames: the first is the one cut out."""
    frames = [Image.open(io.BytesIO(photo(64, 48, "PNG"))).convert("RGB")]
    frames += [Image.new("RGB", (64, 48), colour) for colour in ("blue", "green")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def cmyk_tiff() -> bytes:
    """A print scan: CMYK, JPEG-compressed inside a TIFF."""
    return photo(64, 48, "TIFF", mode="CMYK", compression="jpeg")


def rotated_webp() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to show it
    return photo(80, 60, "WEBP", exif=exif.tobytes())


# (key, body, the cutout's size)
CONVERTED = [
    ("uploads/phone/IMG_0001.HEIC", photo(64, 48, "HEIF", quality=90), (64, 48)),
    ("uploads/phone/IMG_0002.heif", photo(64, 48, "HEIF", quality=90), (64, 48)),
    ("uploads/web/banner.webp", photo(64, 48, "WEBP"), (64, 48)),
    ("uploads/web/hero.avif", photo(64, 48, "AVIF", quality=90), (64, 48)),
    ("uploads/scans/page.tif", cmyk_tiff(), (64, 48)),
    ("uploads/scans/page.tiff", photo(64, 48, "TIFF"), (64, 48)),
    ("uploads/old/paint.bmp", photo(64, 48, "BMP"), (64, 48)),
    ("uploads/anim/loop.gif", animated_gif(), (64, 48)),
    ("uploads/web/rotated.webp", rotated_webp(), (60, 80)),  # upright: EXIF orientation applied
]


@pytest.mark.parametrize(("key", "body", "size"), CONVERTED, ids=[c[0].rpartition("/")[2] for c in CONVERTED])
def test_an_upload_in_another_format_is_converted_and_cut_out(pipeline, key, body, size):
    outcome = pipeline.run(key, body, timeout=120)

    assert outcome.execution["status"] == "SUCCEEDED"
    assert outcome.failure is None
    assert (outcome.cutout.mode, outcome.cutout.size) == ("RGBA", size)
    assert outcome.cutout.getchannel("A").getextrema() == (0, 255)  # a subject kept, a background removed
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in outcome.history if "stateEnteredEventDetails" in e
    ]
    assert entered.index("Convert") < entered.index("Send")


def test_a_staged_copy_is_in_the_staging_prefix_only(pipeline):
    pipeline.run("uploads/staged.webp", photo(64, 48, "WEBP"), timeout=120)
    settings = pipeline.settings
    keys = pipeline.output_keys()
    staged = [k for k in keys if k.startswith(settings.staging_prefix)]
    assert staged
    assert not [k for k in keys if k.startswith(settings.output_prefix) and k.endswith(".webp")]
    assert all("staged" not in k for k in staged)  # named by a digest, not after the upload


def test_a_jpeg_is_not_converted(pipeline):
    outcome = pipeline.run("uploads/plain.jpg", photo(64, 48), timeout=120)
    entered = {
        e["stateEnteredEventDetails"]["name"] for e in outcome.history if "stateEnteredEventDetails" in e
    }
    assert outcome.execution["status"] == "SUCCEEDED"
    assert "Convert" not in entered


def gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("P", (16, 16)), "GIF"))
    data[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return bytes(data)


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("uploads/broken.heic", photo(320, 240, "HEIF", quality=90)[:500], "HEIC could not be decoded: "),
        ("uploads/cut.webp", photo(320, 240, "WEBP")[:300], "WEBP could not be decoded: "),
        ("uploads/bomb.gif", gif_claiming(65535, 65535), "GIF refused by Pillow's decompression-bomb check"),
        (
            "uploads/wide.gif",
            gif_claiming(6000, 4000),
            "GIF image is 6000x4000 (24.0 MP), over MAX_INPUT_MEGAPIXELS",
        ),
    ],
    ids=["truncated HEIC", "truncated WebP", "decompression bomb", "over the megapixel limit"],
)
def test_an_upload_that_cannot_be_converted_gets_a_failure_record_saying_why(pipeline, key, body, reason):
    outcome = pipeline.run(key, body, timeout=120)

    assert outcome.execution["status"] == "FAILED"
    assert outcome.cutout is None
    assert outcome.failure["error"] == "ImageConversionError"
    assert outcome.failure["reason"].startswith(reason)
    assert outcome.failure["task_id"] is None  # nothing was sent to the provider


@pytest.mark.parametrize("fmt", ["HEIF", "WEBP"])
def test_a_converted_uploads_colour_profile_reaches_its_cutout(pipeline, fmt):
    profile = icc_profile()
    key = f"uploads/profiled/photo.{'heic' if fmt == 'HEIF' else 'webp'}"
    outcome = pipeline.run(key, photo(64, 48, fmt, icc_profile=profile), timeout=120)
    assert outcome.execution["status"] == "SUCCEEDED"
    assert outcome.cutout.info["icc_profile"] == profile
