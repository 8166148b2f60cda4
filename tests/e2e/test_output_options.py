"""Output options on the whole local stack: from each source (stack default, prefix rule, the upload's
metadata) and of each kind (format, background, crop, mask, size, variants), inspected pixel by pixel."""

import json

import pytest
from PIL import Image

from cutout.keys import variant_key
from tests.support.images import icc_profile, photo
from tests.support.pipeline import pipeline_stack

DEFAULT = "max_size=150"
RULES = (
    "uploads/products/: format=webp background=#ffffff crop=subject margin=4px; uploads/asis/: max_size=none"
)


@pytest.fixture(scope="module")
def pipeline():
    with pipeline_stack(parameters={"OutputOptions": DEFAULT, "OutputOptionRules": RULES}) as pipeline:
        yield pipeline


def output_of(pipeline, key: str, extension: str) -> tuple[Image.Image, dict]:
    return pipeline.output(
        pipeline.settings.output_prefix + key.removeprefix("uploads/").rsplit(".", 1)[0] + extension
    )


def test_without_options_the_cutout_is_the_png_it_always_was(pipeline):
    outcome = pipeline.run("uploads/asis/plain.jpg", photo(160, 120))  # the rule undoes the default
    assert outcome.execution["status"] == "SUCCEEDED"
    assert json.loads(outcome.execution["input"])["variants"] == []  # streamed as it came
    image, stored = output_of(pipeline, "uploads/asis/plain.jpg", ".png")
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (160, 120))
    assert stored["ContentType"] == "image/png"


def test_metadata_asks_for_a_jpeg_flattened_onto_its_background(pipeline):
    metadata = {"cutout-format": "jpg", "cutout-background": "#0000ff"}
    outcome = pipeline.run("uploads/blue.jpg", photo(160, 120), metadata=metadata)
    assert outcome.execution["status"] == "SUCCEEDED"
    image, stored = output_of(pipeline, "uploads/blue.jpg", ".jpg")
    assert (image.format, image.mode, stored["ContentType"]) == ("JPEG", "RGB", "image/jpeg")
    assert image.size == (150, 112)  # the stack's default max_size
    red, green, blue = image.getpixel((2, 2))  # the white background was removed: blue shows through
    assert (red < 60, green < 60, blue > 200) == (True, True, True)
    assert pipeline.output_keys().count("cutouts/blue.png") == 0


def test_a_prefix_rule_crops_to_the_subject_on_white_as_webp(pipeline):
    outcome = pipeline.run("uploads/products/shoe.jpg", photo(200, 160))
    assert outcome.execution["status"] == "SUCCEEDED"
    image, _ = output_of(pipeline, "uploads/products/shoe.jpg", ".webp")
    assert image.format == "WEBP"
    # the subject is the 100x80 red square in the middle: cropped to it with 4 px around
    assert 100 <= image.width <= 100 + 2 * 4 + 8
    assert 80 <= image.height <= 80 + 2 * 4 + 8
    assert image.convert("RGB").getpixel((0, 0))[1] > 200  # the corner: white, not transparent
    assert image.convert("RGB").getpixel((image.width // 2, image.height // 2))[0] > 150  # red subject


def test_the_uploads_metadata_applies_over_the_prefix_rule(pipeline):
    outcome = pipeline.run("uploads/products/hat.jpg", photo(200, 160), metadata={"cutout-crop": "none"})
    assert outcome.execution["status"] == "SUCCEEDED"
    image, _ = output_of(pipeline, "uploads/products/hat.jpg", ".webp")
    assert image.size == (150, 120)  # the rule's webp on white, not cropped, at the default max_size


def test_the_stack_default_applies_where_nothing_else_says(pipeline):
    outcome = pipeline.run("uploads/mask.jpg", photo(160, 120), metadata={"cutout-channels": "alpha"})
    assert outcome.execution["status"] == "SUCCEEDED"
    image, _ = output_of(pipeline, "uploads/mask.jpg", ".png")
    assert (image.mode, image.size) == ("L", (150, 112))
    assert image.getextrema() == (0, 255)


def test_named_variants_each_get_their_output(pipeline):
    metadata = {"cutout-variants": "full,thumb", "cutout-thumb.format": "webp", "cutout-thumb.max-size": "64"}
    outcome = pipeline.run("uploads/two.jpg", photo(320, 240), metadata=metadata)
    assert outcome.execution["status"] == "SUCCEEDED"
    full, stored = output_of(pipeline, "uploads/two.jpg", ".png")
    thumb, _ = pipeline.output(variant_key("uploads/two.jpg", pipeline.settings, "thumb", ".webp"))
    assert (full.format, full.size) == ("PNG", (150, 112))
    assert (thumb.format, thumb.size) == ("WEBP", (64, 48))
    assert stored["Metadata"]["variants"] == "thumb.webp"


def test_the_sources_orientation_and_colour_profile_are_kept(pipeline):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    profile = icc_profile()
    body = photo(120, 80, "JPEG", exif=exif.tobytes(), icc_profile=profile)
    outcome = pipeline.run("uploads/turned.jpg", body, metadata={"cutout-format": "webp"})
    assert outcome.execution["status"] == "SUCCEEDED"
    image, _ = output_of(pipeline, "uploads/turned.jpg", ".webp")
    assert image.size == (80, 120)
    assert image.info["icc_profile"] == profile


def test_a_bad_option_is_a_failure_record_and_the_provider_is_not_paid(pipeline):
    before = pipeline.provider_stats().get("submit_requests", 0)
    outcome = pipeline.run("uploads/gif.jpg", photo(), metadata={"cutout-format": "gif"})
    assert outcome.execution is None
    assert outcome.failure["error"] == "OutputOptionsError"
    assert outcome.failure["reason"] == (
        'option "format" = "gif" (from the object\'s metadata cutout-format): '
        "accepted are png, webp, jpg (or jpeg)"
    )
    assert pipeline.provider_stats().get("submit_requests", 0) == before


def test_an_upload_again_in_another_format_replaces_every_output_of_the_first(pipeline):
    metadata = {"cutout-variants": "full,thumb", "cutout-thumb.max-size": "32"}
    assert pipeline.run("uploads/again.jpg", photo(), metadata=metadata).execution["status"] == "SUCCEEDED"
    assert pipeline.run("uploads/again.jpg", photo(), metadata={"cutout-format": "webp"}).cutout is None
    assert sorted(k for k in pipeline.output_keys() if "again" in k) == ["cutouts/again.webp"]


def test_a_cutout_without_options_keeps_the_uploads_colour_profile_too(pipeline):
    profile = icc_profile()
    outcome = pipeline.run("uploads/asis/profiled.jpg", photo(160, 120, "JPEG", icc_profile=profile))
    assert outcome.execution["status"] == "SUCCEEDED"
    image, _ = output_of(pipeline, "uploads/asis/profiled.jpg", ".png")
    assert (image.format, image.info["icc_profile"]) == ("PNG", profile)


def test_a_margin_in_percent_of_the_subjects_box_from_the_metadata(pipeline):
    outcome = pipeline.run("uploads/products/box.jpg", photo(200, 160), metadata={"cutout-margin": "25%"})
    assert outcome.execution["status"] == "SUCCEEDED"
    image, _ = output_of(pipeline, "uploads/products/box.jpg", ".webp")
    # the 100x80 subject and 25 % of its longer side (25 px) on each side: about 150x130
    assert 144 <= image.width <= 150
    assert 124 <= image.height <= 136
