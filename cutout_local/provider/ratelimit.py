"""A per-key sliding-window rate limit (monotonic clock)."""

import math
import threading
from collections import defaultdict, deque
from collections.abc import Sequence


class SlidingWindowLimiter:
    """At most `limit` acquisitions per key in any window of `window` seconds.

    An acquisition at time t counts against every later time u with u - t < window.
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def try_acquire(self, key: str, now: float) -> int:
        """Take a slot at `now` and return 0, or take nothing and return whole seconds (≥ 1) to wait."""
        with self._lock:
            times = self._times[key]
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) < self.limit:
                times.append(now)
                return 0
            return max(1, math.ceil(times[0] + self.window - now))


def max_in_window(timestamps: Sequence[float], window: float) -> int:
    """The largest number of `timestamps` that fall within any window of `window` seconds.

    Uses the limiter's rule (t and u share a window when |u - t| < window), so for accepted submissions
    the result must never exceed the limit.
    """
    ordered = sorted(timestamps)
    best = start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
