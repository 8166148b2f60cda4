"""Issue 4's bad-input matrix: hostile and odd files and keys, each with its asserted outcome, through
the real pipeline (notification filter, SubmitFunction's checks, the provider's own decoding)."""

import numpy as np
import pytest
from PIL import Image

from tests.support.images import encode, photo


def truncated_jpeg() -> bytes:
    data = photo(640, 480, "JPEG", quality=95)
    return data[: len(data) * 6 // 10]  # the header is intact: only the provider can tell


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    return photo(120, 80, "JPEG", exif=exif.tobytes())


def noise_png(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "PNG", compress_level=0)


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (16, 16), color) for color in ("red", "blue", "green")]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
LONG_NAME = "uploads/" + "n" * 988 + ".jpg"  # a 1,000-character key

# (case, key, body, expected): ("cutout", size) | ("failure", error, words in the reason) | ("skipped",)
CASES = [
    ("zero-byte file", "uploads/empty.jpg", b"", ("failure", "UnsupportedInputError", "empty file")),
    (
        "text named .jpg",
        "uploads/text.jpg",
        b"Meeting notes, 3 pm.",
        ("failure", "UnsupportedInputError", "not an image"),
    ),
    ("PNG named .jpg", "uploads/png-inside.jpg", photo(40, 30, "PNG"), ("cutout", (40, 30))),
    ("truncated JPEG", "uploads/truncated.jpg", truncated_jpeg(), ("failure", "ProviderTaskFailedError", "")),
    (
        "over 30 MB",
        "uploads/heavy.png",
        noise_png(3600, 3000),
        ("failure", "UnsupportedInputError", "MAX_INPUT_BYTES"),
    ),
    (
        "over 16 megapixels",
        "uploads/huge.jpg",
        photo(5000, 3300),
        ("failure", "UnsupportedInputError", "MEGAPIXELS"),
    ),
    ("1x1 pixel", "uploads/dot.png", photo(1, 1, "PNG"), ("cutout", (1, 1))),
    ("animated GIF", "uploads/anim.png", animated("GIF"), ("failure", "UnsupportedInputError", "GIF")),
    (
        "animated WebP",
        "uploads/anim-webp.png",
        animated("WEBP"),
        ("failure", "UnsupportedInputError", "WEBP"),
    ),
    ("CMYK JPEG", "uploads/cmyk.jpg", photo(64, 48, "JPEG", mode="CMYK"), ("cutout", (64, 48))),
    (
        "16-bit PNG",
        "uploads/deep.png",
        encode(Image.new("I;16", (50, 40), 30000), "PNG"),
        ("cutout", (50, 40)),
    ),
    ("EXIF rotation", "uploads/rotated.jpg", exif_rotated(), ("cutout", (80, 120))),
    ("HEIC named .jpg", "uploads/iphone.jpg", HEIC, ("failure", "UnsupportedInputError", "HEIC")),
    ("SVG named .png", "uploads/vector.png", SVG, ("failure", "UnsupportedInputError", "SVG")),
    ("BMP named .jpg", "uploads/bitmap.jpg", photo(8, 8, "BMP"), ("failure", "UnsupportedInputError", "BMP")),
    ("key with spaces", "uploads/my holiday photo.jpg", photo(), ("cutout", (64, 48))),
    ("key with +", "uploads/a+b.jpg", photo(), ("cutout", (64, 48))),
    ("key with %", "uploads/100%.jpg", photo(), ("cutout", (64, 48))),
    ("unicode key", "uploads/café 写真.jpg", photo(), ("cutout", (64, 48))),
    ("upper-case suffix", "uploads/SHOUT.JPG", photo(), ("cutout", (64, 48))),
    ("1,000-character key", LONG_NAME, photo(), ("cutout", (64, 48))),
    ("folder marker", "uploads/albums/", b"", ("skipped",)),
    (
        "not an accepted suffix",
        "uploads/notes.txt",
        b"plain text",
        ("failure", "UnsupportedInputError", "suffix .txt; accepted are files named .jpg, .jpeg, .png"),
    ),
    ("outside the input prefix", "elsewhere/a.jpg", photo(), ("skipped",)),
    ("under the output prefix", "cutouts/a.jpg", photo(), ("skipped",)),
    ("under the failure prefix", "failures/a.jpg", photo(), ("skipped",)),
]


@pytest.mark.parametrize(("case", "key", "body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_matrix(pipeline, case, key, body, expected):
    outcome = pipeline.run(key, body, timeout=120)
    kind = expected[0]
    if kind == "cutout":
        assert outcome.execution["status"] == "SUCCEEDED"
        assert outcome.failure is None
        assert outcome.cutout.mode == "RGBA"
        assert outcome.cutout.size == expected[1]
    elif kind == "failure":
        assert outcome.cutout is None
        assert outcome.failure["error"] == expected[1]
        assert expected[2] in outcome.failure["reason"]
        assert outcome.failure["source"]["key"] == key
    else:
        assert outcome.execution is None
        assert outcome.cutout is None
        assert outcome.failure is None


def test_the_same_key_uploaded_twice_quickly_ends_as_two_executions_and_one_cutout(pipeline):
    first = pipeline.stack.upload("uploads/twice.jpg", photo(60, 40))
    second = pipeline.stack.upload("uploads/twice.jpg", photo(90, 60))
    outcomes = [pipeline.outcome("uploads/twice.jpg", put) for put in (first, second)]
    assert [o.execution["status"] for o in outcomes] == ["SUCCEEDED", "SUCCEEDED"]
    assert outcomes[0].execution["name"] != outcomes[1].execution["name"]
    assert pipeline.output_keys().count(pipeline.output_key("uploads/twice.jpg")) == 1
