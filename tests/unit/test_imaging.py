import pytest
from PIL import Image

from cutout.imaging import probe
from tests.support.images import encode, photo


@pytest.mark.parametrize(
    ("data", "fmt", "size"),
    [
        (photo(640, 480, "JPEG"), "jpeg", (640, 480)),
        (photo(640, 480, "JPEG", progressive=True), "jpeg", (640, 480)),
        (photo(64, 48, "JPEG", mode="CMYK"), "jpeg", (64, 48)),
        (photo(300, 200, "PNG"), "png", (300, 200)),
        (encode(Image.new("I;16", (20, 10)), "PNG"), "png", (20, 10)),
        (photo(1, 1, "PNG"), "png", (1, 1)),
    ],
)
def test_accepted_formats_and_their_size(data, fmt, size):
    info = probe(data)
    assert (info.format, info.width, info.height) == (fmt, *size)


def test_jpeg_size_behind_a_large_exif_block():
    exif = Image.Exif()
    exif[0x010E] = "x" * 30_000  # ImageDescription
    exif[0x0112] = 6  # rotated
    data = photo(320, 240, "JPEG", exif=exif.tobytes())
    assert probe(data[:1024]).width is None  # the frame header is further in
    assert (probe(data).width, probe(data).height) == (320, 240)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (photo(8, 8, "GIF"), "gif"),
        (photo(8, 8, "WEBP"), "webp"),
        (photo(8, 8, "BMP"), "bmp"),
        (photo(8, 8, "TIFF"), "tiff"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heic"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "svg"),
        (b"%PDF-1.7\n", "pdf"),
    ],
)
def test_other_formats_are_named(data, fmt):
    assert probe(data).format == fmt


@pytest.mark.parametrize("data", [b"", b"hello, this is text named photo.jpg", b"\x00" * 64])
def test_non_images(data):
    assert probe(data) is None


def test_truncated_png_has_no_size():
    assert probe(photo(10, 10, "PNG")[:12]).width is None
