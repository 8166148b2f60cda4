"""The upload's ICC colour profile, carried into its cutout without decoding either image.

Novita documents nothing about colour profiles, and a cutout streamed as it came would lose the upload's:
its pixels are the upload's values, which mean something else without the profile (a Display P3 photo
shown as sRGB looks dull). So the profile is read from the upload's first bytes (a JPEG's APP2
``ICC_PROFILE`` segments, a PNG's ``iCCP`` chunk, a WebP's ``ICCP`` chunk) and written into the PNG
cutout as an ``iCCP`` chunk after ``IHDR``, replacing any colour chunk the provider put there
(``iCCP``, ``sRGB``: a PNG holds at most one of them, PNG spec 11.3.3.1 and 11.3.3.5), while the rest of
the stream passes through in chunks. Only an RGB profile is carried: a CMYK or grey profile does not
describe the cutout's RGB pixels. Plain Python: no Pillow on the streamed path."""

from __future__ import annotations

import struct
import zlib
from typing import Protocol

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_ICC = b"ICC_PROFILE\x00"
_REPLACED = frozenset({b"iCCP", b"sRGB"})
_MAX_PRELUDE = 8 * 1024 * 1024  # chunks before the first IDAT held at once; a larger prelude passes as is


def icc_profile(head: bytes) -> bytes | None:
    """The RGB ICC profile in ``head`` (an upload's first bytes), or None: no profile, not an RGB one,
    or not within ``head``."""
    if head.startswith(b"\xff\xd8"):
        profile = _jpeg_profile(head)
    elif head.startswith(_PNG_SIGNATURE):
        profile = _png_profile(head)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        profile = _webp_profile(head)
    else:
        profile = None
    return profile if profile is not None and is_rgb_profile(profile) else None


def is_rgb_profile(profile: bytes | None) -> bool:
    """Whether an ICC profile describes RGB data: its header names its data colour space at bytes 16-19
    (ICC.1:2022, 7.2.6). A CMYK or grey profile would make an RGB output wrong, not merely unmanaged."""
    return profile is not None and profile[16:20] == b"RGB "


def _jpeg_profile(head: bytes) -> bytes | None:
    """The APP2 segments before the scan, joined in their sequence numbers' order (ICC.1 Annex B.4)."""
    parts: dict[int, bytes] = {}
    count = 0
    at = 2
    while at + 4 <= len(head) and head[at] == 0xFF:
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no more metadata
            break
        (length,) = struct.unpack(">H", head[at + 2 : at + 4])
        segment = head[at + 4 : at + 2 + length]
        if len(segment) < length - 2:
            return None  # cut off by the end of head
        if marker == 0xE2 and segment.startswith(_JPEG_ICC) and len(segment) >= 14:
            parts[segment[12]] = segment[14:]
            count = segment[13]
        at += 2 + length
    if not parts or sorted(parts) != list(range(1, count + 1)):
        return None
    return b"".join(parts[number] for number in sorted(parts))


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each whole chunk after the signature, up to the first IDAT or the end of data."""
    chunks = []
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"IDAT" or at + 12 + length > len(data):
            break
        chunks.append((kind, data[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def _png_profile(head: bytes) -> bytes | None:
    for kind, data in _png_chunks(head):
        if kind == b"iCCP":
            _name, _, rest = data.partition(b"\x00")
            try:
                return zlib.decompress(rest[1:])  # after the compression method byte (0: zlib)
            except zlib.error:
                return None
    return None


def _webp_profile(head: bytes) -> bytes | None:
    at = 12
    while at + 8 <= len(head):
        kind, length = head[at : at + 4], struct.unpack("<I", head[at + 4 : at + 8])[0]
        if kind == b"ICCP":
            data = head[at + 8 : at + 8 + length]
            return data if len(data) == length else None
        at += 8 + length + (length & 1)
    return None


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


def iccp_chunk(profile: bytes) -> bytes:
    """A PNG ``iCCP`` chunk: name, NUL, compression method 0, the zlib-compressed profile; then its CRC."""
    data = b"icc\x00\x00" + zlib.compress(profile)
    return struct.pack(">I", len(data)) + b"iCCP" + data + struct.pack(">I", zlib.crc32(b"iCCP" + data))


class WithProfile:
    """A PNG stream read as file-like with ``profile`` as its colour chunk: the chunks before the first
    IDAT are read and rewritten once (IHDR, then the profile, then the others but iCCP and sRGB); the rest
    passes through. ``bytes_written`` counts what was read from it. A stream that is not a PNG, or whose
    chunks before IDAT exceed ``_MAX_PRELUDE``, passes through unchanged."""

    def __init__(self, stream: Readable, profile: bytes) -> None:
        self._stream = stream
        self._profile = profile
        self._pending: bytes | None = None
        self.bytes_written = 0

    def read(self, size: int = -1) -> bytes:
        if self._pending is None:
            self._pending = self._prelude()
        if self._pending:
            if 0 <= size < len(self._pending):
                chunk, self._pending = self._pending[:size], self._pending[size:]
            else:
                wanted = -1 if size < 0 else size - len(self._pending)
                chunk, self._pending = self._pending + (self._stream.read(wanted) if wanted else b""), b""
        else:
            chunk = self._stream.read(size)
        self.bytes_written += len(chunk)
        return chunk

    def _prelude(self) -> bytes:
        """Read up to and including the first IDAT's header; return it rewritten."""
        data = self._read_exactly(len(_PNG_SIGNATURE))
        if data != _PNG_SIGNATURE:
            return data
        out = [data]
        held = 0
        while True:
            header = self._read_exactly(8)
            if len(header) < 8:
                return b"".join(out) + header
            length, kind = struct.unpack(">I4s", header)
            held += length
            if kind == b"IDAT" or held > _MAX_PRELUDE:
                return b"".join(out) + header
            body = self._read_exactly(length + 4)  # data and CRC
            if kind not in _REPLACED:
                out.append(header + body)
            if kind == b"IHDR":
                out.append(iccp_chunk(self._profile))
            if len(body) < length + 4:
                return b"".join(out)

    def _read_exactly(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            part = self._stream.read(left)
            if not part:
                break
            parts.append(part)
            left -= len(part)
        return b"".join(parts)
