"""Counters the tests assert on: what each API key sent and what it got back."""

import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def key_id(api_key: str) -> str:
    """The label of an API key in stats and logs: not the key, but stable and distinct per key."""
    return "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


@dataclass
class _KeyStats:
    submit_requests: int = 0
    accepted_at: list[float] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    responses_429: int = 0
    rate_limited: int = 0
    polls: int = 0
    downloads: int = 0
    tasks: Counter[str] = field(default_factory=Counter)


class Stats:
    """Thread-safe counters per key id; `snapshot()` documents the shape."""

    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit
        self._window = window
        self._keys: dict[str, _KeyStats] = {}
        self._unauthorized = 0
        self._lock = threading.Lock()

    def _key(self, key: str) -> _KeyStats:
        return self._keys.setdefault(key, _KeyStats())

    def unauthorized(self) -> None:
        with self._lock:
            self._unauthorized += 1

    def submit_request(self, key: str) -> None:
        with self._lock:
            self._key(key).submit_requests += 1

    def accepted(self, key: str, at: float, image: str | None) -> None:
        with self._lock:
            k = self._key(key)
            k.accepted_at.append(at)
            if image is not None:
                k.images.append(image)

    def throttled(self, key: str, *, by_limiter: bool) -> None:
        with self._lock:
            k = self._key(key)
            k.responses_429 += 1
            k.rate_limited += by_limiter

    def poll(self, key: str) -> None:
        with self._lock:
            self._key(key).polls += 1

    def download(self, key: str) -> None:
        with self._lock:
            self._key(key).downloads += 1

    def finished(self, key: str, status: str) -> None:
        with self._lock:
            self._key(key).tasks[status] += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy:

        clock: "monotonic" — `accepted_at` and `now` are `time.monotonic()` seconds of this process.
        now, rate_limit {limit, window_seconds}, unauthorized (401s sent, all keys),
        keys: {key_id(api_key): {
            submit_requests  authenticated submissions (async + sync), whatever the answer;
            accepted         submissions that passed the rate limit (= len(accepted_at));
            accepted_at      their times, in order;
            images           the async submissions' image URLs without query string (no signatures);
            responses_429    429s sent (rate limit + injected); rate_limited: those from the limit;
            polls            task-result requests; downloads: result downloads answered 200;
            tasks            {final status: count}, e.g. {"TASK_STATUS_SUCCEED": 3}}}
        """
        with self._lock:
            keys = {
                name: {
                    "submit_requests": k.submit_requests,
                    "accepted": len(k.accepted_at),
                    "accepted_at": list(k.accepted_at),
                    "images": list(k.images),
                    "responses_429": k.responses_429,
                    "rate_limited": k.rate_limited,
                    "polls": k.polls,
                    "downloads": k.downloads,
                    "tasks": dict(k.tasks),
                }
                for name, k in self._keys.items()
            }
            return {
                "clock": "monotonic",
                "now": time.monotonic(),
                "rate_limit": {"limit": self._limit, "window_seconds": self._window},
                "unauthorized": self._unauthorized,
                "keys": keys,
            }
