"""The provider's health, shared by every function: an outage pauses the pipeline as a whole instead of
failing each image on its own.

When the provider answers 5xx, times out, resets connections or refuses for billing, the first caller to
see it marks that part of the provider down: one item per part in the schedule table, ``submit`` for
submissions, ``task-result`` for polls and for the result's fresh URL, ``download`` for the host of the
result URLs (a part can fail alone, and submissions that succeed must not end an outage of polls). From
then on callers do not call it; they wait. At ``probe_at`` exactly one caller, the one whose conditional
write claims the probe, makes its call: a success clears the outage (everyone resumes), a failure sets
the next probe further off, the interval doubling from ``FIRST_PROBE_SECONDS`` up to
``max_probe_seconds``. So an hour's outage costs about log2(max/first) + 3600/max calls per part,
whatever the number of waiting images, and on recovery submissions resume at the schedule's pace.

Only past ``max_outage_seconds`` from the outage's start does a caller give up, with a
``ProviderOutageError`` that says how long the provider has been unavailable. The pause and the resume
are logged once each, by the caller whose write changed the item; every caller that finds the provider
unavailable adds 1 to the ``ProviderUnavailable`` metric (ProviderUnavailableAlarm)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from cutout.errors import ProviderOutageError
from cutout.observability import logger, metrics
from cutout.pacing import condition_failed, decimal_seconds
from cutout.settings import Settings

FIRST_PROBE_SECONDS = 1.0
# A claimed probe holds the next probe off for this long (the provider call's connect and read timeouts
# and a margin): if the prober's Lambda dies mid-call, another caller probes after it.
PROBE_HOLD_SECONDS = 30.0
HEALTH_ID = "provider-health#{part}"
PARTS = ("submit", "task-result", "download")


@dataclass(frozen=True)
class Outage:
    """A part of the provider marked down: since when, why, and when it is next probed."""

    part: str
    since: float
    next_probe_at: float
    interval: float
    reason: str

    def seconds(self, now: float) -> float:
        return max(0.0, now - self.since)


@dataclass(frozen=True)
class Go:
    """Call the provider. ``probe``: the outage this call probes (None: the provider is healthy)."""

    probe: Outage | None = None


@dataclass(frozen=True)
class Wait:
    """Do not call the provider: wait until ``outage.next_probe_at`` (or later)."""

    outage: Outage


class ProviderHealth:
    def __init__(
        self,
        table: Any,
        part: str,
        *,
        max_outage_seconds: int,
        max_probe_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if part not in PARTS:
            raise ValueError(f"unknown provider part {part!r}")
        self._table = table
        self.part = part
        self._id = HEALTH_ID.format(part=part)
        self.max_outage_seconds = max_outage_seconds
        self.max_probe_seconds = float(max_probe_seconds)
        self._clock = clock

    @classmethod
    def of(cls, table: Any, part: str, settings: Settings) -> ProviderHealth:
        """The health of ``part``, with the stack's MaxProviderOutageSeconds and ProviderProbeMaxSeconds."""
        return cls(
            table,
            part,
            max_outage_seconds=settings.max_provider_outage_seconds,
            max_probe_seconds=settings.provider_probe_max_seconds,
        )

    def ask(self) -> Go | Wait:
        """Whether to call the provider now: healthy, or this caller won the due probe -> Go; else Wait.
        Past ``max_outage_seconds`` a caller that does not probe raises ProviderOutageError."""
        outage = self.outage()
        if outage is None:
            return Go()
        now = self._clock()
        if outage.next_probe_at <= now and self._claim(outage, now):
            return Go(probe=outage)
        self.give_up_if_too_long(outage)
        metrics.add_metric(name="ProviderUnavailable", unit=MetricUnit.Count, value=1)
        return Wait(self.outage() or outage)

    def failed(self, reason: str, go: Go) -> Outage:
        """The call ``go`` allowed found the provider unavailable: mark it down (or, after a probe, set
        the next probe further off); returns the outage to wait out. Past ``max_outage_seconds`` raises
        ProviderOutageError."""
        now = self._clock()
        metrics.add_metric(name="ProviderUnavailable", unit=MetricUnit.Count, value=1)
        if go.probe is not None:
            outage = self._probe_failed(go.probe, reason, now)
        else:
            outage = self._declare(reason, now) or self.outage() or self._declared_elsewhere(reason, now)
        self.give_up_if_too_long(outage)
        return outage

    def succeeded(self, go: Go) -> None:
        """The call ``go`` allowed was answered: after a probe, the outage is over."""
        if go.probe is None:
            return
        outage, now = go.probe, self._clock()
        try:
            self._table.update_item(
                Key={"id": self._id},
                UpdateExpression="REMOVE down_since, probe_at, probe_interval, last_error",
                ConditionExpression="down_since = :since",
                ExpressionAttributeValues={":since": decimal_seconds(outage.since)},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return  # already cleared (and perhaps a new outage declared) by someone else
            raise
        logger.warning(
            "provider available again: resuming",
            extra={"provider_part": self.part, "outage_seconds": round(outage.seconds(now), 1)},
        )

    def wait_seconds(self, outage: Outage, spread: float = 0.0) -> int:
        """Whole seconds until the next probe (at least 1), plus ``spread`` seconds (callers spread their
        return over part of the probe interval, so a recovered provider is not met by all at once)."""
        return max(1, math.ceil(outage.next_probe_at - self._clock() + spread))

    def give_up_if_too_long(self, outage: Outage) -> None:
        seconds = outage.seconds(self._clock())
        if seconds > self.max_outage_seconds:
            raise ProviderOutageError(
                f"the provider ({_PART_NAMES[self.part]}) has been unavailable for {seconds:.0f} s, more "
                f"than MaxProviderOutageSeconds ({self.max_outage_seconds}); last error: {outage.reason}"
            )

    def outage(self) -> Outage | None:
        item = self._table.get_item(Key={"id": self._id}, ConsistentRead=True).get("Item")
        if not item or "down_since" not in item:
            return None
        return Outage(
            part=self.part,
            since=float(item["down_since"]),
            next_probe_at=float(item["probe_at"]),
            interval=float(item["probe_interval"]),
            reason=str(item.get("last_error", "")),
        )

    def _declare(self, reason: str, now: float) -> Outage | None:
        """Mark the part down, if it is not already; None when another caller did first."""
        interval = min(FIRST_PROBE_SECONDS, self.max_probe_seconds)
        try:
            self._table.update_item(
                Key={"id": self._id},
                UpdateExpression="SET down_since = :now, probe_at = :next, probe_interval = :interval, "
                "last_error = :reason",
                ConditionExpression="attribute_not_exists(down_since)",
                ExpressionAttributeValues={
                    ":now": decimal_seconds(now),
                    ":next": decimal_seconds(now + interval),
                    ":interval": decimal_seconds(interval),
                    ":reason": reason,
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        logger.warning("provider unavailable: pausing", extra={"provider_part": self.part, "reason": reason})
        return Outage(self.part, now, now + interval, interval, reason)

    def _declared_elsewhere(self, reason: str, now: float) -> Outage:
        """Declared by another caller and already cleared again: wait the first interval anyway."""
        interval = min(FIRST_PROBE_SECONDS, self.max_probe_seconds)
        return Outage(self.part, now, now + interval, interval, reason)

    def _claim(self, outage: Outage, now: float) -> bool:
        """Take the due probe: one conditional write, which one caller wins."""
        try:
            self._table.update_item(
                Key={"id": self._id},
                UpdateExpression="SET probe_at = :hold",
                ConditionExpression="down_since = :since AND probe_at = :due",
                ExpressionAttributeValues={
                    ":hold": decimal_seconds(now + PROBE_HOLD_SECONDS),
                    ":since": decimal_seconds(outage.since),
                    ":due": decimal_seconds(outage.next_probe_at),
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def _probe_failed(self, outage: Outage, reason: str, now: float) -> Outage:
        interval = min(outage.interval * 2, self.max_probe_seconds)
        try:
            self._table.update_item(
                Key={"id": self._id},
                UpdateExpression="SET probe_at = :next, probe_interval = :interval, last_error = :reason",
                ConditionExpression="down_since = :since",
                ExpressionAttributeValues={
                    ":next": decimal_seconds(now + interval),
                    ":interval": decimal_seconds(interval),
                    ":reason": reason,
                    ":since": decimal_seconds(outage.since),
                },
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return self.outage() or self._declared_elsewhere(reason, now)
        logger.info(
            "provider still unavailable",
            extra={"provider_part": self.part, "reason": reason, "next_probe_in": interval},
        )
        return Outage(self.part, outage.since, now + interval, interval, reason)


_PART_NAMES = {
    "submit": "its submissions",
    "task-result": "its task results",
    "download": "the host of its result URLs",
}
