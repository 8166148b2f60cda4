import struct

import pytest
from PIL import Image

from cutout.imaging import ImageInfo, convertible, probe
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


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    """An ISO base media file's first box: size, ``ftyp``, major brand, minor version, compatible brands."""
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x01\x00meta"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (ftyp(b"heic", b"mif1", b"heic"), "heic"),  # an iPhone photo
        (ftyp(b"mif1", b"mif1", b"heic"), "heic"),  # HEVC named among the compatible brands only
        (ftyp(b"heix", b"mif1"), "heic"),
        (ftyp(b"msf1", b"hevc"), "heic"),  # an image sequence
        (ftyp(b"mif1", b"mif1", b"miaf"), "heif"),  # a HEIF container naming no codec
        (ftyp(b"avif", b"avif", b"mif1", b"miaf", b"MA1B"), "avif"),
        (ftyp(b"mif1", b"avif", b"mif1"), "avif"),  # an AVIF whose major brand is the container's
        (ftyp(b"avis", b"avis", b"msf1"), "avif"),  # an AVIF sequence
        (ftyp(b"isom", b"isom", b"mp41"), None),  # an MP4 video
        (ftyp(b"qt  "), None),  # a QuickTime movie
    ],
)
def test_iso_media_files_are_told_apart_by_their_brands(data, fmt):
    info = probe(data)
    assert (info.format if info else None) == fmt


def test_brands_past_the_ftyp_box_are_not_read():
    """The box's own size bounds the brands: a ``heic`` in the next box does not make an MP4 a HEIC."""
    assert probe(ftyp(b"isom", b"mp41") + b"heic") is None


@pytest.mark.parametrize(
    ("fmt", "key", "converted"),
    [
        ("heic", "uploads/IMG_0001.HEIC", True),
        ("heic", "uploads/IMG_0001.heif", True),
        ("heif", "uploads/a.heic", True),
        ("avif", "uploads/a.avif", True),
        ("webp", "uploads/a.webp", True),
        ("tiff", "uploads/scan.TIF", True),
        ("tiff", "uploads/scan.tiff", True),
        ("bmp", "uploads/a.bmp", True),
        ("gif", "uploads/a.gif", True),
        ("heic", "uploads/a.jpg", False),  # another format's name
        ("avif", "uploads/a.heic", False),
        ("webp", "uploads/webp", False),  # no suffix at all
        ("jpeg", "uploads/a.jpg", False),  # sent as it is, never converted
        ("svg", "uploads/a.svg", False),
    ],
)
def test_a_format_is_converted_only_under_a_name_of_its_own(fmt, key, converted):
    assert convertible(fmt, key) is converted


@pytest.mark.parametrize("data", [b"", b"hello, this is text named photo.jpg", b"\x00" * 64])
def test_non_images(data):
    assert probe(data) is None


def test_truncated_png_has_no_size():
    assert probe(photo(10, 10, "PNG")[:12]).width is None


SOI = b"\xff\xd8"


def segment(marker: int, payload: bytes = b"") -> bytes:
    """A JPEG marker segment: FF, the marker, a two-byte length counting itself, the payload."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def frame(width: int, height: int, marker: int = 0xC0) -> bytes:
    """A start-of-frame segment: precision, height, width, then three components."""
    return segment(marker, b"\x08" + struct.pack(">HH", height, width) + b"\x03" + b"\x01\x22\x00" * 3)


APP0 = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")


def size(data: bytes) -> tuple[int | None, int | None]:
    info = probe(data)
    assert info is not None
    assert info.format == "jpeg"
    return info.width, info.height


@pytest.mark.parametrize("fill", [b"\xff", b"\xff\xff\xff"])
def test_jpeg_fill_bytes_before_a_marker_are_skipped(fill):
    assert size(SOI + APP0 + fill + frame(800, 600)) == (800, 600)


def test_jpeg_markers_without_a_length_are_stepped_over():
    restarts = b"\xff\x01" + b"\xff\xd0" + b"\xff\xd7"
    assert size(SOI + restarts + APP0 + frame(800, 600)) == (800, 600)


def test_jpeg_sizes_are_unsigned_up_to_65535():
    assert size(SOI + APP0 + frame(65535, 32768)) == (65535, 32768)


@pytest.mark.parametrize(
    "marker", [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF]
)
def test_every_start_of_frame_kind_gives_the_size(marker):
    assert size(SOI + frame(1024, 768, marker)) == (1024, 768)


@pytest.mark.parametrize("marker", [0xC4, 0xC8, 0xCC])
def test_tables_in_the_start_of_frame_range_are_not_frames(marker):
    table = segment(marker, b"\x00\x00\x01\x00\x02\x00\x03\x00\x04")  # would read as 1 x 2 if it were a frame
    assert size(SOI + table + frame(1024, 768)) == (1024, 768)


def test_an_empty_segment_before_the_frame_is_stepped_over():
    assert size(SOI + segment(0xFE) + frame(1024, 768)) == (1024, 768)


def test_a_scan_before_any_frame_header_ends_the_search():
    assert size(SOI + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") + frame(1024, 768)) == (None, None)


def test_a_jpeg_header_that_is_not_at_a_marker_is_corrupt():
    assert size(SOI + APP0 + b"\x00\x11" + frame(1024, 768)) == (None, None)


def test_a_jpeg_frame_header_cut_right_after_the_size_still_gives_it():
    data = SOI + APP0 + frame(1024, 768)
    end = len(SOI + APP0) + 9  # marker, length, precision, height, width
    assert size(data[:end]) == (1024, 768)
    assert size(data[: end - 1]) == (None, None)


def test_a_jpeg_cut_inside_a_segments_length_has_no_size():
    assert size(SOI + b"\xff\xe0\x00") == (None, None)


def png_header(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", width, height)


def test_a_png_of_exactly_the_24_bytes_that_hold_the_size():
    header = png_header(4000, 3000)
    assert len(header) == 24
    info = probe(header)
    assert (info.format, info.width, info.height) == ("png", 4000, 3000)
    assert probe(header[:23]) == ImageInfo("png")


def test_a_png_whose_first_chunk_is_not_the_header_has_no_size():
    data = png_header(4000, 3000).replace(b"IHDR", b"tEXt")
    assert probe(data) == ImageInfo("png")


def test_megapixels_need_both_dimensions():
    assert ImageInfo("jpeg", 4000, 3000).megapixels == 12.0
    assert ImageInfo("png", 1, 1).megapixels == 0.000001
    assert ImageInfo("jpeg", 4000, None).megapixels is None
    assert ImageInfo("jpeg", None, 3000).megapixels is None
    assert ImageInfo("jpeg").megapixels is None


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"GIF87a\x08\x00\x08\x00", "gif"),
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (b"\x00\x00\x00\x18ftypheix\x00\x00\x00\x00", "heic"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00", "heif"),
        (b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00", "avif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b'\n  <SVG xmlns="http://www.w3.org/2000/svg"/>', "svg"),
    ],
)
def test_more_formats_are_named_from_their_signature(data, fmt):
    assert probe(data) == ImageInfo(fmt)


@pytest.mark.parametrize(
    "data",
    [
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # a RIFF file that is sound
        b"RIFX\x24\x00\x00\x00WEBPVP8 ",
        b'<?xml version="1.0"?>\n<html/>',  # XML that is no SVG
        b"<?xml" + b" " * 600 + b"<svg/>",  # the SVG element too far in to be the document's
    ],
)
def test_look_alikes_are_no_image(data):
    assert probe(data) is None


def test_a_png_claiming_an_enormous_size_reads_as_enormous_not_negative():
    """The megapixel cap must see the size as claimed: read signed, it would be negative and pass."""
    info = probe(png_header(0xFFFFFFFF, 3000))
    assert (info.width, info.height) == (0xFFFFFFFF, 3000)
    assert info.megapixels > 16
