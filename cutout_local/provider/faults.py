"""Fault injection for the local provider, changeable while it runs."""

import random
import threading
from dataclasses import dataclass, field, fields
from typing import Any

ETA_MODES = ("accurate", "noisy", "absent", "zero")
ERROR_STATUSES = (500, 502, 503, 504)


@dataclass
class Faults:
    """What goes wrong, on purpose. Change it with `update(**fields)` (validated, thread-safe) or
      `POST /_local/faults` with the same fields as JSON; `reset()` / `DELETE /_local/faults` restores
      the defaults (no faults).

      Each fault KIND below has two triggers, checked in this order each time the fault could apply:
        `<kind>_next` (int): the next N occasions get the fault (a deterministic counter, decremented);
        `<kind>_rate` (float 0..1): after that, each occasion gets it with this probability, drawn from
          a `random.Random(seed)` (so a run is reproducible; setting `seed` re-seeds it).
    seed (int, default 0): the seed of that generator, also used for the noisy eta.

      API calls (submit, synchronous twin, task-result):
        latency_seconds: added before every API call is answered.
        reset (KIND): the connection is closed with a TCP reset and no response at all.
      Submissions (`/v3/async/image-remove-background` and `/v3/remove-background`):
        submit_429 (KIND): answered 429 RATE_LIMIT_EXCEEDED; not counted as accepted.
        submit_429_retry_after: the injected 429's `Retry-After` seconds; None (JSON null): no header.
        submit_5xx (KIND): answered `submit_5xx_status` (500, 502, 503 or 504); no task is created.
        billing (KIND): answered `billing_status` (default 403) with reason `billing_reason` (default
          BILLING_BALANCE_NOT_ENOUGH), as Novita refuses an account without balance; no task is created.
      Task-result polls (`/v3/async/task-result`):
        poll_latency (KIND): the poll is answered `poll_latency_seconds` late (after `latency_seconds`,
          the reset fault and authentication; then answered as usual), e.g. to outlast a client's read
          timeout. Other endpoints are not delayed.
        poll_latency_seconds: that delay (default 15, more than the product's 10 s read timeout).
        poll_5xx (KIND): answered `poll_5xx_status` (500, 502, 503 or 504).
        poll_malformed (KIND): answered 200 with a truncated, unparseable JSON body.
        poll_unknown_status (KIND): the task's status reads `TASK_STATUS_UNKNOWN`, with no images.
        eta_mode: "accurate" (from queue position and measured task time), "noisy" (that times a
          random factor 0.2..3), "absent" (no `eta` field) or "zero" (`eta` is 0).
      Tasks (decided when the task is accepted):
        task_fail (KIND): the task ends TASK_STATUS_FAILED with reason `task_fail_reason`, input unread.
        task_hang (KIND): the task goes PROCESSING and never finishes.
        task_min_seconds: no task finishes sooner than this after it started processing.
      Result URLs (decided when the task succeeds):
        download_broken (KIND): the URL answers 404 NoSuchKey.
        download_5xx (KIND, decided at each download request): the URL answers 503 SlowDown, as S3 does
          when it is unavailable or throttling.
        download_expired (KIND): the URL has already expired (403 "Request has expired").
        download_expire_after_seconds: if set, URLs expire this long after completion instead of after
          `image_url_ttl` (the advertised ttl is unchanged).
        download_not_image (KIND): the URL answers 200 `image/png` with an HTML body.
        download_inflated (KIND): the URL serves `download_inflated_bytes` bytes (the real PNG, then
          zero padding, streamed with a matching Content-Length) to exercise size caps.
    """

    seed: int = 0
    latency_seconds: float = 0.0
    reset_next: int = 0
    reset_rate: float = 0.0
    submit_429_next: int = 0
    submit_429_rate: float = 0.0
    submit_429_retry_after: int | None = 1
    submit_5xx_next: int = 0
    submit_5xx_rate: float = 0.0
    submit_5xx_status: int = 503
    billing_next: int = 0
    billing_rate: float = 0.0
    billing_status: int = 403
    billing_reason: str = "BILLING_BALANCE_NOT_ENOUGH"
    poll_latency_next: int = 0
    poll_latency_rate: float = 0.0
    poll_latency_seconds: float = 15.0
    poll_5xx_next: int = 0
    poll_5xx_rate: float = 0.0
    poll_5xx_status: int = 503
    poll_malformed_next: int = 0
    poll_malformed_rate: float = 0.0
    poll_unknown_status_next: int = 0
    poll_unknown_status_rate: float = 0.0
    eta_mode: str = "accurate"
    task_fail_next: int = 0
    task_fail_rate: float = 0.0
    task_fail_reason: str = "INJECTED_FAILURE: the local provider was told to fail this task"
    task_hang_next: int = 0
    task_hang_rate: float = 0.0
    task_min_seconds: float = 0.0
    download_5xx_next: int = 0
    download_5xx_rate: float = 0.0
    download_broken_next: int = 0
    download_broken_rate: float = 0.0
    download_expired_next: int = 0
    download_expired_rate: float = 0.0
    download_expire_after_seconds: float | None = None
    download_not_image_next: int = 0
    download_not_image_rate: float = 0.0
    download_inflated_next: int = 0
    download_inflated_rate: float = 0.0
    download_inflated_bytes: int = 64 * 1024 * 1024
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _rng: random.Random = field(default_factory=random.Random, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            if not f.name.startswith("_"):
                _check(f.name, getattr(self, f.name))
        self._rng.seed(self.seed)

    def update(self, **changes: Any) -> None:
        """Set some fields at once (all are validated before any is set)."""
        public = {f.name for f in fields(self) if not f.name.startswith("_")}
        unknown = set(changes) - public
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            _check(name, value)
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)
            if "seed" in changes:
                self._rng.seed(self.seed)

    def reset(self) -> None:
        """Back to the defaults: no faults."""
        defaults = Faults()
        self.update(**{f.name: getattr(defaults, f.name) for f in fields(self) if not f.name.startswith("_")})

    def take(self, kind: str) -> bool:
        """Whether this occasion of `kind` gets the fault (consumes one `<kind>_next` if any is left)."""
        with self._lock:
            left: int = getattr(self, f"{kind}_next")
            if left > 0:
                setattr(self, f"{kind}_next", left - 1)
                return True
            rate: float = getattr(self, f"{kind}_rate")
            return rate > 0 and self._rng.random() < rate

    def uniform(self, low: float, high: float) -> float:
        """A draw from the seeded generator (for noisy values)."""
        with self._lock:
            return self._rng.uniform(low, high)

    def snapshot(self) -> dict[str, Any]:
        """The current fields, as JSON-ready values."""
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def _check(name: str, value: Any) -> None:
    """Raise ValueError unless `value` is acceptable for fault field `name`."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    integer = isinstance(value, int) and not isinstance(value, bool)
    if name.endswith("_next") or name == "download_inflated_bytes":
        ok = integer and value >= 0
    elif name.endswith("_rate"):
        ok = number and 0 <= value <= 1
    elif name in ("latency_seconds", "poll_latency_seconds", "task_min_seconds"):
        ok = number and value >= 0
    elif name == "download_expire_after_seconds":
        ok = value is None or (number and value >= 0)
    elif name == "submit_429_retry_after":
        ok = value is None or (integer and value >= 0)
    elif name == "billing_status":
        ok = integer and 400 <= value <= 499 and value != 429
    elif name.endswith("_status"):
        ok = value in ERROR_STATUSES and integer
    elif name == "eta_mode":
        ok = value in ETA_MODES
    elif name in ("task_fail_reason", "billing_reason"):
        ok = isinstance(value, str) and bool(value)
    else:
        ok = integer  # seed
    if not ok:
        raise ValueError(f"invalid value for fault field {name}: {value!r}")
