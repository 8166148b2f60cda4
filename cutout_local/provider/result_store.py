"""Finished cutouts behind unguessable tokens, kept on disk until their URL expires."""

import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Result:
    """One result URL: its file, owner (key id), expiry (monotonic) and injected fault, if any."""

    token: str
    owner: str
    path: Path
    size: int
    expires_at: float
    fault: str | None = None
    inflate_to: int = 0

    def body(self) -> Iterator[bytes]:
        """The file's bytes in chunks, then zeros up to `inflate_to` (never more than a chunk in memory).

        The file is opened now, so a purge after this call does not cut the download short.
        """
        f = self.path.open("rb")

        def chunks() -> Iterator[bytes]:
            with f:
                while data := f.read(CHUNK):
                    yield data
            padding = self.inflate_to - self.size
            zeros = bytes(min(CHUNK, max(padding, 0)))
            while padding > 0:
                yield zeros[:padding]
                padding -= len(zeros)

        return chunks()

    @property
    def length(self) -> int:
        """Bytes served for this result."""
        return max(self.size, self.inflate_to)


class ResultStore:
    """Writes results as files in `directory`; deletes a file once its URL has expired.

    Records are kept after expiry (a few bytes each) so an expired token answers 403, not 404.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._results: dict[str, Result] = {}
        self._live: set[str] = set()
        self._lock = threading.Lock()

    def add(self, owner: str, png: bytes, *, lifetime: float, fault: str | None, inflate_to: int) -> Result:
        """Store `png` under a new token, valid for `lifetime` seconds from now."""
        self.purge()
        token = secrets.token_urlsafe(24)
        path = self.directory / f"{token}.png"
        tmp = path.with_suffix(".part")
        tmp.write_bytes(png)
        os.replace(tmp, path)
        result = Result(token, owner, path, len(png), time.monotonic() + lifetime, fault, inflate_to)
        with self._lock:
            self._results[token] = result
            self._live.add(token)
        return result

    def get(self, token: str) -> Result | None:
        with self._lock:
            return self._results.get(token)

    def purge(self) -> None:
        """Delete the files of expired results."""
        now = time.monotonic()
        with self._lock:
            expired = [self._results[t] for t in self._live if self._results[t].expires_at <= now]
            self._live.difference_update(r.token for r in expired)
        for result in expired:
            result.path.unlink(missing_ok=True)
