"""What an object really is, from its first bytes (never its name): format and pixel size; and which
formats a file's name may hold.

A header reader of our own instead of Pillow: it keeps the layer small and the cold start short, and the
two formats the provider accepts (JPEG, PNG) have simple, fixed headers. The formats converted before
submission (``CONVERTED``, see ``cutout.conversion``) are only named here: their pixel size is checked
after decoding, where it cannot be misstated (a TIFF's or HEIF's header can sit anywhere in the file)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

ACCEPTED_FORMATS = frozenset({"jpeg", "png"})  # what the provider takes as it is (Novita: JPEG, PNG)
# What ConvertFunction turns into a PNG first, each accepted only in a file named for it: the name is
# the uploader's word that a decoder is wanted. JPEG or PNG content is accepted under any accepted
# suffix, as before (a PNG named .jpg, a JPEG that a phone exported as .heic): it needs no decoder.
CONVERTED: dict[str, tuple[str, ...]] = {
    "webp": (".webp",),
    "heic": (".heic", ".heif"),
    "heif": (".heic", ".heif"),
    "avif": (".avif",),
    "tiff": (".tif", ".tiff"),
    "bmp": (".bmp",),
    "gif": (".gif",),
}
# ISO base media file brands (the ``ftyp`` box: major brand, then compatible ones): AV1 stills and
# sequences; HEVC stills and sequences; a HEIF container that names no codec.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"BM", "bmp"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"%PDF", "pdf"),
)
# JPEG start-of-frame markers carry the pixel size; the others (C4 DHT, C8 JPG, CC DAC) do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int | None = None
    height: int | None = None

    @property
    def megapixels(self) -> float | None:
        if self.width is None or self.height is None:
            return None
        return self.width * self.height / 1_000_000


def probe(head: bytes) -> ImageInfo | None:
    """Identify ``head`` (the object's first bytes). None when it is no image format we know; width and
    height stay None when ``head`` ends before the header that holds them."""
    fmt = _format(head)
    if fmt == "png":
        return _png(head)
    if fmt == "jpeg":
        return _jpeg(head)
    return ImageInfo(fmt) if fmt else None


def convertible(fmt: str, key: str) -> bool:
    """Whether an upload named ``key`` whose content is ``fmt`` is converted: the format is one of
    ``CONVERTED`` and the name ends in one of its suffixes (case-insensitive)."""
    return key.lower().endswith(CONVERTED.get(fmt, ()))


def _format(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return _brand(head)
    for offset, signature, name in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    text = head[:512].lstrip().lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in text:
        return "svg"
    return None


def _brand(head: bytes) -> str | None:
    """AVIF, HEIC or HEIF from an ``ftyp`` box's brands (an AVIF file often names ``mif1`` too, and a
    HEIC file ``mif1`` as its major brand); None for other ISO media (MP4, QuickTime...)."""
    size = int.from_bytes(head[:4], "big")
    end = min(size, len(head)) if size >= 16 else 16
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & _HEIC_BRANDS:
        return "heic"
    if brands & _HEIF_BRANDS:
        return "heif"
    return None


def _png(head: bytes) -> ImageInfo:
    if len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return ImageInfo("png", width, height)
    return ImageInfo("png")


def _jpeg(head: bytes) -> ImageInfo:
    pos = 2
    while pos + 9 <= len(head):  # room for a frame header's size: nothing shorter can give one
        if head[pos] != 0xFF:
            return ImageInfo("jpeg")  # not at a marker: corrupt header
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", head[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return ImageInfo("jpeg", width, height)
        if marker == 0xDA or length < 2:  # start of scan before any frame header
            break
        pos += 2 + length
    return ImageInfo("jpeg")
