"""How long the provider's tasks have taken lately, learnt as they end, so that SendFunction's first look
after submitting comes when many tasks have just finished (``cutout.looks.first_look_at``) rather than
at once, when none has.

A finished task's answer says how long it took: ``extra.debug_info``'s submit and complete times
(``TaskResult.duration``), exact whenever it was looked at; every finished task records that. Without
them (a provider that leaves them out), a duration is estimated from the looks: the middle of the
interval they leave (``Poll.unfinished_until``, the last reading that found the task unfinished or the
earliest end its eta allowed, to the first reading that found it finished). Only a task first looked at
at once records such an estimate (``Poll.learns``): one first looked at T seconds after its submission
and found finished says only that it took less than T. Such tasks are every task while fewer than
``MIN_SAMPLES`` durations are known or while tasks take too long for a later look to pay, and, while
the recent durations are mostly estimates, one task in ``EXPLORE_EVERY`` (the explorers, by task id).

The counts are kept per bin of duration in one DynamoDB item per hour beside the submission schedule
(RateLimitTable, ``task-durations#<hour>``, expiring after a day), with how many were exact: the current
hour and the one before it are the recent distribution. A function reads them at most once a minute.

Learning is never in a task's way: a table that does not answer leaves the look at once (reading) or the
duration unrecorded (recording), with a warning."""

from __future__ import annotations

import bisect
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from cutout.observability import logger

DURATIONS_ID = "task-durations#{hour}"
EXPLORE_EVERY = 8  # one task in this many is looked at at once to estimate its duration
MIN_SAMPLES = 30  # fewer recorded durations than this: every task explores
READ_EVERY_SECONDS = 60.0  # a function reads the counts at most this often
KEEP_SECONDS = 86400  # an hour's counts expire (TTL) this long after the hour ends

# Bins of duration: 0.1 s wide up to 20 s (where the first look is chosen, on a 0.1-s grid), then 10 %
# wider each up to a day (the last bin takes anything longer). Their upper edges, in seconds:
EDGES: tuple[float, ...] = (
    *(round(0.1 * (i + 1), 1) for i in range(200)),
    *(round(20.0 * 1.1 ** (i + 1), 1) for i in range(88)),
)


def bin_of(seconds: float) -> int:
    return min(bisect.bisect_left(EDGES, seconds), len(EDGES) - 1)


def explores(task_id: str) -> bool:
    """Whether this task is one of the explorers (stable: every function decides the same)."""
    return zlib.crc32(task_id.encode()) % EXPLORE_EVERY == 0


def ended_about(unfinished_until: float, finished_seen_at: float) -> float:
    """A task's duration from its looks: the middle of (last known unfinished, first seen finished]."""
    low = min(max(unfinished_until, 0.0), finished_seen_at)
    return (low + finished_seen_at) / 2


@dataclass(frozen=True)
class Histogram:
    """Counts of recorded durations per bin (``EDGES``); ``exact``: how many were the provider's own."""

    counts: Mapping[int, int] = field(default_factory=dict)
    exact: int = 0

    @property
    def samples(self) -> int:
        return sum(self.counts.values())

    @property
    def mostly_exact(self) -> bool:
        return self.exact * 2 > self.samples

    def plus(self, seconds: float, *, exact: bool = False) -> Histogram:
        counts = dict(self.counts)
        counts[bin_of(seconds)] = counts.get(bin_of(seconds), 0) + 1
        return Histogram(counts, self.exact + exact)

    def share_within(self, seconds: float) -> float:
        """The share of the recorded durations of at most ``seconds`` (linear within a bin); 0 when
        nothing is recorded."""
        total = self.samples
        if total == 0 or seconds <= 0:
            return 0.0
        index = bin_of(seconds)
        below = sum(count for i, count in self.counts.items() if i < index)
        low = EDGES[index - 1] if index else 0.0
        inside = self.counts.get(index, 0) * min(1.0, (seconds - low) / (EDGES[index] - low))
        return (below + inside) / total

    def quantile(self, q: float) -> float | None:
        """The duration below which a share ``q`` of the recorded ones fall (linear within a bin); None
        when nothing is recorded."""
        total = self.samples
        if total == 0:
            return None
        wanted, seen = q * total, 0
        for index in sorted(self.counts):
            count = self.counts[index]
            if count and seen + count >= wanted:
                low = EDGES[index - 1] if index else 0.0
                return low + (EDGES[index] - low) * (wanted - seen) / count
            seen += count
        return EDGES[max(self.counts)]


class Durations(Protocol):
    def record(self, seconds: float, *, exact: bool) -> None: ...
    def recent(self) -> Histogram: ...


class TaskDurations:
    """The recent distribution in DynamoDB: ``record`` after an explorer ends, ``recent`` before a look."""

    def __init__(self, table: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock
        self._cached: tuple[float, Histogram] | None = None

    def record(self, seconds: float, *, exact: bool) -> None:
        hour = int(self._clock() // 3600)
        try:
            self._table.update_item(
                Key={"id": DURATIONS_ID.format(hour=hour)},
                UpdateExpression="ADD #bin :one, exact :exact SET expires_at = :expires",
                ExpressionAttributeNames={"#bin": f"b{bin_of(seconds)}"},
                ExpressionAttributeValues={
                    ":one": 1,
                    ":exact": int(exact),
                    ":expires": (hour + 1) * 3600 + KEEP_SECONDS,
                },
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("task duration not recorded", extra={"error": str(exc)})

    def recent(self) -> Histogram:
        """The current hour's counts and the previous hour's, read at most once a minute."""
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < READ_EVERY_SECONDS:
            return self._cached[1]
        hour = int(now // 3600)
        counts: dict[int, int] = {}
        exact = 0
        try:
            for past in (hour - 1, hour):
                item = self._table.get_item(Key={"id": DURATIONS_ID.format(hour=past)}).get("Item", {})
                exact += int(item.get("exact", 0))
                for name, value in item.items():
                    if name.startswith("b") and name[1:].isdigit():
                        counts[int(name[1:])] = counts.get(int(name[1:]), 0) + int(value)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("task durations not read: the first look comes at once", extra={"error": str(exc)})
            return Histogram()
        self._cached = (now, Histogram(counts, exact))
        return self._cached[1]
