"""The capped stream that WriteResult hands to boto3's managed upload."""

import io

import pytest

from cutout.errors import ResultRejectedError
from cutout.results import CappedStream


class Body(io.BytesIO):
    """What urllib3's streamed response offers: read(n) / read(None)."""

    def read(self, size=None):
        return super().read(-1 if size is None else size)


def stream(data: bytes, sniffed: int = 32, cap: int = 10**6) -> CappedStream:
    body = Body(data)
    return CappedStream(body, body.read(sniffed), cap)  # type: ignore[arg-type]


def test_reads_are_full_length_across_the_sniffed_head():
    s = stream(bytes(range(100)))
    assert s.read(50) == bytes(range(50))  # not a short read of the 32 sniffed bytes
    assert s.read(-1) == bytes(range(50, 100))
    assert s.read(10) == b""


def test_a_read_shorter_than_the_head_keeps_the_rest_of_it():
    s = stream(bytes(range(100)))
    assert s.read(10) == bytes(range(10))
    assert s.read(30) == bytes(range(10, 40))


def test_the_cap_stops_the_stream():
    s = stream(b"x" * 100, cap=60)
    s.read(50)
    with pytest.raises(ResultRejectedError, match="MAX_RESULT_BYTES"):
        s.read(50)
