"""A scripted stand-in for the urllib3 PoolManager the functions share, for unit tests (no sockets): each
request takes the next answer of the script, a response or an exception to raise, and is remembered."""

from __future__ import annotations

import io
from typing import Any

from urllib3 import HTTPHeaderDict


class FakeResponse:
    """The part of ``urllib3.BaseHTTPResponse`` the code uses: status, headers, data, read, release_conn.
    ``fail_after`` makes ``read`` raise ``error`` once that many bytes have been read (a broken stream)."""

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        fail_after: int | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.status = status
        self.headers = HTTPHeaderDict(headers or {})
        self.data = body
        self._stream = io.BytesIO(body)
        self._fail_after = fail_after
        self._error = error
        self.released = False

    def read(self, amt: int | None = None) -> bytes:
        if self._fail_after is not None and self._stream.tell() + (amt or 1) > self._fail_after:
            assert self._error is not None
            raise self._error
        return self._stream.read(amt)

    def release_conn(self) -> None:
        self.released = True


class FakePoolManager:
    def __init__(self, *answers: FakeResponse | BaseException) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        self.requests.append({"method": method, "url": url, **kwargs})
        assert self.answers, f"unscripted request: {method} {url}"
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer
