"""Rendering a cutout as its options ask, checked pixel by pixel on the decoded output."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout.errors import ResultRejectedError
from cutout.options import Margin, Options
from cutout.rendering import Rendered, flattened, render, subject_box
from tests.support.images import cutout, encode, icc_profile

RED = (255, 0, 0)
ROOT = Path(__file__).resolve().parents[2]


def rendered(image: Image.Image, icc: bytes | None = None, max_megapixels: float = 16, **options) -> Rendered:
    return render(encode(image, "PNG"), Options(**options), icc_profile=icc, max_megapixels=max_megapixels)


def decoded(result: Rendered) -> Image.Image:
    image = Image.open(io.BytesIO(result.body))
    image.load()
    assert (image.width, image.height) == (result.width, result.height)
    return image


def close(actual, expected, tolerance: int = 1) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(actual, expected, strict=True))


# --- defaults and formats -----------------------------------------------------------------------------


def test_with_default_options_the_cutout_comes_back_as_it_was():
    source = cutout()
    source.putpixel((16, 12), (10, 20, 30, 128))
    result = rendered(source)
    image = decoded(result)
    assert (result.content_type, image.format, image.mode) == ("image/png", "PNG", "RGBA")
    assert image.tobytes() == source.tobytes()


@pytest.mark.parametrize(
    ("fmt", "pillow_format", "content_type"),
    [("png", "PNG", "image/png"), ("webp", "WEBP", "image/webp"), ("jpg", "JPEG", "image/jpeg")],
)
def test_each_format_is_what_its_content_type_says(fmt, pillow_format, content_type):
    result = rendered(cutout(), format=fmt)
    assert (decoded(result).format, result.content_type) == (pillow_format, content_type)


def test_webp_is_lossless_with_alpha_and_keeps_the_colour_under_transparency():
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (40, 60, 4), dtype=np.uint8)
    pixels[:10, :, 3] = 0  # transparent, with colours a lossy or inexact encoder would change
    source = Image.fromarray(pixels, "RGBA")
    image = decoded(rendered(source, format="webp"))
    assert image.mode == "RGBA"
    assert np.array_equal(np.asarray(image), pixels)


def test_webp_does_not_make_pillow_import_every_plugin_it_has():
    """Without its plugin imported, saving as WebP makes Pillow import all of them (Image.init): megabytes
    that a 16-MP render has no room to spare for (bench/bench_streaming.py). A fresh interpreter, since
    other tests load plugins."""
    script = (
        "import sys\n"
        "from cutout.options import Options\n"
        "from cutout.rendering import render\n"
        "from tests.support.images import cutout, encode\n"
        "render(encode(cutout(), 'PNG'), Options(format='webp'), icc_profile=None, max_megapixels=16)\n"
        "print(' '.join(name for name in sys.modules if name.endswith('ImagePlugin')))\n"
    )
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'common'}:{ROOT}"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    plugins = set(out.stdout.split())
    assert "PIL.WebPImagePlugin" in plugins
    assert "PIL.TiffImagePlugin" not in plugins  # one that Image.init() imports


def test_jpeg_quality_is_90():
    flat_red = decoded(rendered(cutout(box=(0, 0, 64, 48)), format="jpg"))
    assert flat_red.quantization[0][0] == 3  # the luminance table's DC step at quality 90 (16 at 50)


# --- crop to the subject ------------------------------------------------------------------------------


def test_crop_to_the_subject_keeps_exactly_its_box():
    source = cutout(200, 100, box=(50, 20, 130, 60))
    image = decoded(rendered(source, crop="subject"))
    assert image.size == (80, 40)
    assert image.tobytes() == source.crop((50, 20, 130, 60)).tobytes()


def test_a_margin_in_pixels_is_added_on_each_side():
    image = decoded(rendered(cutout(200, 100, box=(50, 20, 130, 60)), crop="subject", margin=Margin(10)))
    assert image.size == (100, 60)
    assert image.getpixel((9, 9))[3] == 0
    assert image.getpixel((10, 10)) == (*RED, 255)
    assert image.getchannel("A").getbbox() == (10, 10, 90, 50)


@pytest.mark.parametrize(
    ("box", "size"),
    [((50, 20, 130, 60), (88, 48)), ((50, 10, 90, 90), (48, 88))],  # 80 x 40 and 40 x 80: 4 pixels a side
)
def test_a_margin_in_percent_is_of_the_boxs_longer_side(box, size):
    image = decoded(rendered(cutout(200, 100, box=box), crop="subject", margin=Margin(5, percent=True)))
    assert image.size == size
    assert image.getchannel("A").getbbox() == (4, 4, size[0] - 4, size[1] - 4)


def test_a_margin_is_clamped_to_the_image():
    image = decoded(rendered(cutout(200, 100, box=(5, 3, 130, 95)), crop="subject", margin=Margin(10)))
    assert image.size == (140, 100)  # from (0, 0), not (-5, -7), to y = 100, not 105
    assert image.getchannel("A").getbbox() == (5, 3, 130, 95)
    image = decoded(rendered(cutout(200, 100, box=(80, 20, 196, 98)), crop="subject", margin=Margin(10)))
    assert image.size == (130, 90)  # to (200, 100), not (206, 108)


def test_faint_haze_and_small_specks_far_away_do_not_stretch_the_box():
    source = cutout(400, 300, box=(150, 100, 250, 200))
    for x, y in ((5, 5), (390, 290), (10, 280)):  # isolated opaque pixels
        source.putpixel((x, y), (255, 255, 255, 255))
    source.paste((0, 255, 0, 255), (380, 10, 382, 12))  # a 2 x 2 speck
    source.paste((0, 0, 255, 25), (0, 0, 400, 60))  # haze under 10 % across the top
    assert source.getchannel("A").getbbox() == (0, 0, 400, 291)  # what a naive box would take
    assert subject_box(source.getchannel("A")) == (150, 100, 250, 200)
    assert decoded(rendered(source, crop="subject")).size == (100, 100)


def test_alpha_from_ten_percent_counts_as_subject():
    source = cutout(400, 300, box=(150, 100, 250, 200))
    source.paste((0, 0, 255, 26), (0, 0, 400, 60))
    assert subject_box(source.getchannel("A")) == (0, 0, 400, 200)


def test_a_blob_three_pixels_wide_counts_as_subject():
    source = cutout(400, 300, box=(150, 100, 250, 200))
    source.paste((0, 255, 0, 255), (380, 10, 383, 13))
    assert subject_box(source.getchannel("A")) == (150, 10, 383, 200)


def test_thin_parts_attached_to_the_subject_keep_their_extent_from_three_pixels_wide():
    source = cutout(400, 300, box=(150, 100, 250, 200))
    source.paste((*RED, 255), (199, 20, 202, 100))  # an antenna 3 pixels wide, 80 long
    assert subject_box(source.getchannel("A")) == (150, 20, 250, 200)


def test_an_image_without_a_subject_is_not_cropped():
    empty = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    image = decoded(rendered(empty, crop="subject", margin=Margin(5)))
    assert image.size == (120, 80)


# --- background ---------------------------------------------------------------------------------------


def test_an_opaque_background_fills_the_transparent_pixels():
    source = cutout()
    source.putpixel((16, 12), (0, 0, 255, 128))  # half-transparent blue at the subject's corner
    image = decoded(rendered(source, background=(0, 128, 255, 255)))
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (0, 128, 255)
    assert image.getpixel((30, 20)) == RED
    assert close(image.getpixel((16, 12)), (0, 64, 255))  # blue over (0, 128, 255), half and half


def test_a_background_with_alpha_keeps_its_alpha_in_png_and_webp():
    for fmt in ("png", "webp"):
        image = decoded(rendered(cutout(), format=fmt, background=(0, 255, 0, 64)))
        assert image.mode == "RGBA"
        assert image.getpixel((0, 0)) == (0, 255, 0, 64)
        assert image.getpixel((30, 20)) == (*RED, 255)


def test_a_transparent_background_keeps_the_cutouts_alpha():
    image = decoded(rendered(cutout(), format="webp"))
    assert (image.getpixel((0, 0))[3], image.getpixel((30, 20))) == (0, (*RED, 255))


def test_jpeg_is_flattened_onto_white_by_default():
    image = decoded(rendered(cutout(), format="jpg"))
    assert image.mode == "RGB"
    assert close(image.getpixel((2, 2)), (255, 255, 255), 2)
    assert close(image.getpixel((30, 20)), RED, 4)


def test_jpeg_is_flattened_onto_the_background():
    image = decoded(rendered(cutout(), format="jpg", background=(0, 0, 255, 255)))
    assert close(image.getpixel((2, 2)), (0, 0, 255), 4)


@pytest.mark.parametrize(
    ("colour", "on_white"),
    [((0, 0, 255, 128), (127, 127, 255)), ((10, 20, 30, 255), (10, 20, 30)), ((0, 0, 0, 0), (255, 255, 255))],
)
def test_a_colour_with_alpha_flattened_onto_white(colour, on_white):
    assert flattened(colour) == on_white


def test_jpeg_flattens_a_background_with_alpha_onto_white_first():
    image = decoded(rendered(cutout(), format="jpg", background=(0, 0, 255, 128)))
    assert close(image.getpixel((2, 2)), (127, 127, 255), 4)


# --- the mask -----------------------------------------------------------------------------------------


def mask_source() -> Image.Image:
    source = cutout()
    source.putpixel((16, 12), (0, 0, 255, 77))
    return source


def test_the_mask_is_the_alpha_channel_as_grayscale():
    result = rendered(mask_source(), channels="alpha", background=(0, 0, 255, 255))
    image = decoded(result)
    assert (image.mode, result.content_type) == ("L", "image/png")
    assert image.tobytes() == mask_source().getchannel("A").tobytes()  # the background is not used


def test_the_mask_as_webp_has_equal_channels():
    image = decoded(rendered(mask_source(), channels="alpha", format="webp"))
    assert image.mode == "RGB"
    assert image.getpixel((16, 12)) == (77, 77, 77)
    assert image.getpixel((0, 0)) == (0, 0, 0)
    assert image.getpixel((30, 20)) == (255, 255, 255)


def test_the_mask_as_jpeg_is_grayscale():
    image = decoded(rendered(mask_source(), channels="alpha", format="jpg"))
    assert image.mode == "L"
    assert (image.getpixel((2, 2)) <= 3, image.getpixel((30, 20)) >= 252) == (True, True)


def test_the_mask_is_cropped_to_the_subject():
    image = decoded(rendered(cutout(200, 100, box=(50, 20, 130, 60)), channels="alpha", crop="subject"))
    assert (image.mode, image.size, image.getextrema()) == ("L", (80, 40), (255, 255))


# --- size ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "max_size", "expected"),
    [
        ((400, 200), 100, (100, 50)),
        ((200, 400), 100, (50, 100)),
        ((300, 200), 256, (256, 171)),
        ((100, 50), 256, (100, 50)),  # never enlarged
        ((256, 100), 256, (256, 100)),
        ((2000, 20), 16, (16, 1)),  # never less than a pixel
        ((20, 2000), 16, (1, 16)),
    ],
)
def test_max_size_bounds_the_longer_side_keeping_the_aspect(size, max_size, expected):
    result = rendered(cutout(*size, box=(10, 10, 40, 40)), max_size=max_size)
    assert decoded(result).size == expected


def test_max_size_applies_after_the_crop():
    source = cutout(1000, 800, box=(100, 100, 500, 300))
    result = rendered(source, crop="subject", max_size=100)
    assert decoded(result).size == (100, 50)


def test_downscaling_is_lanczos():
    source = Image.fromarray(np.random.default_rng(3).integers(0, 256, (100, 200, 4), dtype=np.uint8), "RGBA")
    image = decoded(rendered(source, max_size=50))
    assert image.tobytes() == source.resize((50, 25), Image.Resampling.LANCZOS).tobytes()


def test_downscaling_does_not_bleed_the_colour_of_transparent_pixels():
    source = Image.new("RGBA", (200, 200), (0, 255, 0, 0))  # transparent green around the subject
    source.paste((*RED, 255), (50, 50, 150, 150))
    image = decoded(rendered(source, max_size=50))
    red, green, _, alpha = image.getpixel((12, 25))  # on the subject's edge: partly transparent
    assert 0 < alpha < 255
    assert (red, green) == (255, 0)


# --- colour profile -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "webp", "jpg"])
def test_the_sources_colour_profile_is_embedded(fmt):
    profile = icc_profile()
    assert decoded(rendered(cutout(), icc=profile, format=fmt)).info.get("icc_profile") == profile


@pytest.mark.parametrize("fmt", ["png", "webp", "jpg"])
def test_without_a_profile_none_is_embedded(fmt):
    assert not decoded(rendered(cutout(), format=fmt)).info.get("icc_profile")


def test_the_mask_has_no_colour_profile():
    assert not decoded(rendered(cutout(), icc=icc_profile(), channels="alpha")).info.get("icc_profile")


@pytest.mark.parametrize("channels", ["rgba", "alpha"])
def test_a_profile_the_providers_result_carries_is_not_kept(channels):
    source = encode(cutout(), "PNG", icc_profile=icc_profile())
    result = render(source, Options(channels=channels), icc_profile=None, max_megapixels=16)
    assert not decoded(result).info.get("icc_profile")


def test_a_profile_that_is_not_rgb_is_not_embedded_in_an_rgb_output():
    assert not decoded(rendered(cutout(), icc=icc_profile("LAB"))).info.get("icc_profile")


# --- what is refused ----------------------------------------------------------------------------------


def test_more_pixels_than_the_megapixel_limit_are_refused():
    with pytest.raises(ResultRejectedError) as raised:
        rendered(cutout(1200, 1000), max_megapixels=1)
    assert str(raised.value) == "result is 1200x1000 (1.2 MP), over MAX_INPUT_MEGAPIXELS (1): not rendered"
    rendered(cutout(1000, 1000), max_megapixels=1)


@pytest.mark.parametrize("pixels", [1000 * 1000 + 1, 2 * 1000 * 1000 + 1])
def test_pillows_decompression_bomb_check_refuses_too(monkeypatch, pixels):
    source = encode(cutout(pixels, 1), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000 * 1000)
    with pytest.raises(ResultRejectedError, match="decompression-bomb"):
        render(source, Options(), icc_profile=None, max_megapixels=10_000)


@pytest.mark.parametrize(
    "data",
    [b"not an image", encode(cutout(), "GIF"), encode(cutout(), "PNG")[:80], b""],
    ids=["text", "gif", "truncated", "empty"],
)
def test_what_cannot_be_decoded_is_refused(data):
    with pytest.raises(ResultRejectedError, match="could not be decoded as PNG, JPEG or WebP"):
        render(data, Options(), icc_profile=None, max_megapixels=16)


def test_a_result_without_alpha_is_opaque():
    source = encode(Image.new("RGB", (40, 30), RED), "JPEG", quality=95)
    image = decoded(render(source, Options(channels="alpha"), icc_profile=None, max_megapixels=16))
    assert image.getextrema() == (255, 255)
