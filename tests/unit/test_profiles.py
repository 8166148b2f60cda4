"""The upload's colour profile, read from its first bytes and written into a streamed PNG cutout."""

import io
import zlib

import pytest
from PIL import Image, ImageCms

from cutout.profiles import WithProfile, icc_profile, iccp_chunk, is_rgb_profile
from tests.support.images import encode, photo
from tests.support.images import icc_profile as make_profile

SRGB = make_profile("sRGB")
LAB = make_profile("LAB")


def cutout(**options) -> bytes:
    image = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    image.paste((10, 200, 30, 255), (10, 5, 30, 25))
    return encode(image, "PNG", **options)


def big_profile() -> bytes:
    """An RGB profile of about 150 KB: a JPEG splits it over three APP2 segments (64 KB each at most)."""
    profile = bytearray(SRGB + bytes(150_000))
    profile[0:4] = len(profile).to_bytes(4, "big")
    return bytes(profile)


@pytest.mark.parametrize(
    ("fmt", "profile"),
    [("JPEG", SRGB), ("PNG", SRGB), ("WEBP", SRGB), ("JPEG", big_profile())],
)
def test_an_uploads_rgb_profile_is_read_from_its_first_bytes(fmt, profile):
    assert icc_profile(photo(64, 48, fmt, icc_profile=profile)) == profile


def test_an_upload_without_a_profile_has_none():
    assert icc_profile(photo(64, 48, "JPEG")) is None
    assert icc_profile(photo(64, 48, "PNG")) is None


def test_a_profile_that_is_not_rgb_is_not_carried():
    assert not is_rgb_profile(LAB)
    assert icc_profile(photo(64, 48, "PNG", icc_profile=LAB)) is None


def test_a_profile_cut_off_by_the_end_of_the_head_is_none():
    body = photo(64, 48, "JPEG", icc_profile=big_profile())
    assert icc_profile(body[:100_000]) is None


def test_no_image_has_no_profile():
    assert icc_profile(b"Dear diary") is None


class Trickle:
    """A stream that hands out at most ``step`` bytes a read, as a network response may."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step = data, step

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk


def read_all(stream, size: int) -> bytes:
    parts = []
    while part := stream.read(size):
        parts.append(part)
    return b"".join(parts)


@pytest.mark.parametrize(("step", "size"), [(1, 7), (8192, 8192), (100_000, -1), (13, 1)])
def test_the_profile_is_written_into_the_streamed_png_and_the_pixels_are_untouched(step, size):
    stream = WithProfile(Trickle(cutout(), step), SRGB)
    out = read_all(stream, size)
    image = Image.open(io.BytesIO(out))
    assert image.info["icc_profile"] == SRGB
    assert image.tobytes() == Image.open(io.BytesIO(cutout())).tobytes()
    assert stream.bytes_written == len(out) == len(cutout()) + len(iccp_chunk(SRGB))


def test_the_providers_own_colour_chunk_is_replaced():
    provider = cutout(icc_profile=make_profile("sRGB"))  # what a provider might embed
    p3_like = bytearray(SRGB)
    p3_like[48:52] = b"TEST"  # another RGB profile
    out = read_all(WithProfile(io.BytesIO(provider), bytes(p3_like)), 4096)
    assert out.count(b"iCCP") == 1
    assert Image.open(io.BytesIO(out)).info["icc_profile"] == bytes(p3_like)


def test_an_srgb_chunk_gives_way_to_the_profile():
    image = Image.open(io.BytesIO(cutout()))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    data = buffer.getvalue()
    ihdr_end = 8 + 25
    srgb = b"\x00\x00\x00\x01sRGB\x00" + zlib.crc32(b"sRGB\x00").to_bytes(4, "big")  # rendering intent 0
    with_srgb = data[:ihdr_end] + srgb + data[ihdr_end:]
    assert Image.open(io.BytesIO(with_srgb)).info.get("srgb") == 0
    out = read_all(WithProfile(io.BytesIO(with_srgb), SRGB), 4096)
    assert b"sRGB" not in out
    assert Image.open(io.BytesIO(out)).info["icc_profile"] == SRGB


def test_a_stream_that_is_not_a_png_passes_through():
    body = photo(64, 48, "JPEG")
    assert read_all(WithProfile(io.BytesIO(body), SRGB), 1000) == body


def test_cms_reads_the_written_profile():
    out = read_all(WithProfile(io.BytesIO(cutout()), SRGB), 4096)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(Image.open(io.BytesIO(out)).info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
