"""The capped stream that WriteResult hands to boto3's managed upload."""

import io

import pytest
import urllib3

from cutout.errors import ResultDownloadError, ResultRejectedError
from cutout.results import CappedStream
from tests.support.fake_http import FakeResponse


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


def test_a_zero_length_read_returns_nothing_and_keeps_the_stream_where_it_was():
    s = stream(bytes(range(100)))
    assert s.read(0) == b""
    assert s.read(40) == bytes(range(40))
    assert s.read(0) == b""
    assert s.read(-1) == bytes(range(40, 100))


def test_a_zero_length_read_after_the_head_is_spent_reads_nothing_either():
    s = stream(bytes(range(100)))
    s.read(32)
    assert s.read(0) == b""
    assert s.read(8) == bytes(range(32, 40))


def test_a_body_of_exactly_the_cap_passes():
    s = stream(b"x" * 60, cap=60)
    assert s.read(50) + s.read(50) == b"x" * 60
    assert s.bytes_read == 60


def test_the_stream_counts_the_bytes_it_yielded():
    s = stream(bytes(range(100)))
    s.read(10)
    s.read(50)
    assert s.bytes_read == 60


def test_a_connection_broken_mid_stream_is_a_download_error():
    response = FakeResponse(
        200, bytes(100), fail_after=40, error=urllib3.exceptions.ProtocolError("Connection broken")
    )
    s = CappedStream(response, response.read(32), 10**6)  # type: ignore[arg-type]
    with pytest.raises(ResultDownloadError) as raised:
        s.read(50)
    assert str(raised.value) == "result download broke off: ProtocolError"
