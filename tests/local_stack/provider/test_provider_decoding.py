"""The provider decodes what it accepts to the colours a viewer shows: 16-bit, palette, grey+alpha, CMYK and
progressive inputs, checked pixel by pixel, then through the API on a real scene. Transparency is
composited onto white before the model sees the image."""

import io

import numpy as np
import pytest
from PIL import Image

from cutout_local.provider.image_io import open_image
from tests.local_stack.provider.provider_helpers import gift_box_matte, gift_box_scene, odd_inputs
from tests.support.images import encode, png16

RED, BLUE, WHITE = (200, 30, 40), (20, 40, 220), (255, 255, 255)
RED_IN_CMYK = (55, 225, 215, 0)  # 255 minus each of RED's channels, no black ink
RAMP = np.linspace(0, 65535, 256).astype(np.uint16)  # one row, black to white in 16 bits


def two_colours(background: tuple[int, ...], square: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    """A 64x48 image: a 32x16 square (on the 16-pixel grid JPEG works in) on a plain background."""
    image = Image.new(mode, (64, 48), background)
    image.paste(square, (16, 16, 48, 32))
    return image


def palette(transparency: bytes | None = None) -> bytes:
    """A palette PNG: a red square on black, with a blue pixel row; `transparency` as the PNG's tRNS."""
    image = two_colours(0, 1, "P")
    image.paste(2, (0, 47, 64, 48))
    image.putpalette([0, 0, 0, *RED, *BLUE])
    return encode(image, "PNG", **({} if transparency is None else {"transparency": transparency}))


def shown(background: tuple[int, ...], square: tuple[int, ...], bottom: tuple[int, ...]) -> np.ndarray:
    image = two_colours(background, square)
    image.paste(bottom, (0, 47, 64, 48))
    return np.asarray(image)


def ramp_rgb(deep: np.ndarray) -> np.ndarray:
    """What a 16-bit grey image shows: the high byte of each sample, in three channels."""
    return np.repeat((deep >> 8).astype(np.uint8)[..., None], 3, axis=-1)


def on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None] / 255
    return np.rint(rgb * a + 255 * (1 - a)).astype(np.uint8)


DEEP_GREY = np.repeat(RAMP[None, :], 4, axis=0)
DEEP_RGB = np.stack([DEEP_GREY, DEEP_GREY[:, ::-1], np.full_like(DEEP_GREY, 0x8000)], axis=-1)
EIGHT_BIT = (DEEP_GREY >> 8).astype(np.uint8)

CASES = {
    "16-bit grey PNG": (encode(Image.fromarray(DEEP_GREY), "PNG"), ramp_rgb(DEEP_GREY), 0),
    "16-bit grey PNG, one level transparent": (
        encode(Image.fromarray(DEEP_GREY), "PNG", transparency=int(RAMP[0])),
        np.where(DEEP_GREY[..., None] == RAMP[0], 255, ramp_rgb(DEEP_GREY)).astype(np.uint8),
        0,
    ),
    "16-bit RGB PNG": (png16(DEEP_RGB), (DEEP_RGB >> 8).astype(np.uint8), 0),
    "16-bit RGBA PNG": (
        png16(np.concatenate([DEEP_RGB[:, ::-1], DEEP_GREY[..., None]], axis=-1)),
        on_white((DEEP_RGB[:, ::-1] >> 8).astype(np.uint8), EIGHT_BIT),
        1,
    ),
    "16-bit grey+alpha PNG": (
        png16(np.stack([np.zeros_like(DEEP_GREY), DEEP_GREY], axis=-1)),
        on_white(np.zeros((4, 256, 3), np.uint8), EIGHT_BIT),
        1,
    ),
    "palette PNG": (palette(), shown((0, 0, 0), RED, BLUE), 0),
    "palette PNG, one colour transparent": (palette(transparency=0), shown(WHITE, RED, BLUE), 0),
    "palette PNG, alpha per colour": (
        palette(transparency=bytes([0, 255, 128])),
        shown(WHITE, RED, tuple(on_white(np.array(BLUE), np.array(128)))),
        1,
    ),
    "grey+alpha PNG": (
        encode(two_colours((0, 0), (90, 255), "LA"), "PNG"),
        shown(WHITE, (90, 90, 90), WHITE),
        0,
    ),
    "RGBA PNG": (encode(two_colours((0, 0, 0, 0), (*RED, 255), "RGBA"), "PNG"), shown(WHITE, RED, WHITE), 0),
    "CMYK JPEG": (
        encode(two_colours((0, 0, 0, 0), RED_IN_CMYK, "CMYK"), "JPEG", quality=95),
        shown(WHITE, RED, WHITE),
        2,
    ),
    "progressive JPEG": (
        encode(two_colours(WHITE, RED), "JPEG", quality=95, progressive=True, subsampling=0),
        shown(WHITE, RED, WHITE),
        4,
    ),
}


ODD_INPUTS = odd_inputs(gift_box_scene())


@pytest.mark.parametrize(("data", "expected", "tolerance"), CASES.values(), ids=CASES)
def test_the_decoded_pixels_are_the_colours_shown_on_white(data, expected, tolerance):
    decoded = open_image(data, max_pixels=1_000_000)
    assert decoded.mode == "RGB"
    error = np.abs(np.asarray(decoded).astype(int) - expected.astype(int))
    assert error.max() <= tolerance, f"{error.max()} off at {np.argwhere(error > tolerance)[:3].tolist()}"


@pytest.mark.parametrize(
    ("case", "info"), [("CMYK JPEG", {"adobe": 100}), ("progressive JPEG", {"progressive": 1})]
)
def test_the_jpeg_samples_are_the_kinds_they_are_named_after(case, info):
    """Pillow writes CMYK as Adobe does (inverted, APP14 marker), the kind Photoshop writes."""
    image = Image.open(io.BytesIO(CASES[case][0]))
    assert {key: image.info.get(key) for key in info} == info
    assert image.mode == ("CMYK" if case == "CMYK JPEG" else "RGB")


def test_the_16_bit_samples_are_16_bit():
    depths = {name: data[24] for name, (data, _, _) in CASES.items() if name.startswith("16-bit")}
    assert set(depths.values()) == {16}  # the IHDR's bit depth


@pytest.mark.parametrize("name", ODD_INPUTS)
def test_a_cutout_keeps_the_subject_in_its_colours(api, inputs, name):
    """The `inputs` server holds the same files."""
    _, shown_on_white = ODD_INPUTS[name]
    body = api.wait(api.task_id(f"{inputs}/{name}"))
    assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body["task"]
    cutout = np.asarray(Image.open(io.BytesIO(api.get(body["images"][0]["image_url"]).data)))
    kept, box = cutout[..., 3] > 127, gift_box_matte()
    assert (kept & box).sum() / (kept | box).sum() >= 0.85
    error = np.abs(cutout[..., :3][box].astype(int) - np.asarray(shown_on_white)[box].astype(int))
    assert error.mean() <= 5
