"""The provider's rate limit, kept across every concurrent Lambda: a schedule of submission slots in
DynamoDB. Slots are spaced ``60 / submissions_per_minute`` seconds apart plus a safety margin, so no
sliding minute ever holds more than the allowance even when a submission reaches the provider a little
after its slot. The executions wait for their slots in Step Functions Wait states, so a burst drains at
the allowed rate, durably, with no Lambda sleeping and no SQS redelivery.

A reservation on a busy schedule is one atomic write that DynamoDB serialises (``next_free`` moved on by
one spacing, the old value being the slot), so concurrent admitters never read, compare and retry, and
no two ever get the same slot. Only a schedule that has fallen more than half a second behind the clock
(idle) is restarted, by a conditional write that one writer wins; the others then take the next slots
atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from cutout.aws import refused_item
from cutout.errors import BacklogFullError, RateLimiterBusyError

SAFETY_MARGIN = 0.05  # 5 % wider spacing than the allowance: room for network jitter before the provider
LIMITER_ID = "novita-submissions"
# The first round takes a slot, restarts the schedule, or loses the restart to another writer, after
# which the second round takes one: more rounds than this mean the table misbehaves.
_ATTEMPTS = 5
# A schedule that fell behind the clock by less than this is taken as it is (its slot a little in the
# past: submitted at once) rather than restarted. Without it, at high rates the schedule falls behind
# between two admitters' calls and every reservation becomes a restart race. The submissions it moves
# earlier, up to this much, come out of the 5 % margin (3 s a minute), with up to 1 s of late arrival.
LATE_SLOT_GRACE_SECONDS = 0.5
_TAKE = "SET next_free = next_free + :spacing"
_IN_RANGE = "next_free BETWEEN :floor AND :limit"
_AT_OR_AFTER = "next_free >= :floor"
_RESTART = "SET next_free = :next"
_BEHIND = "attribute_not_exists(next_free) OR next_free < :floor"


class SubmissionPacer:
    def __init__(
        self,
        table: Any,
        submissions_per_minute: int,
        *,
        clock: Callable[[], float] = time.time,
        limiter_id: str = LIMITER_ID,
    ) -> None:
        self._table = table
        self._clock = clock
        self._limiter_id = limiter_id
        self.spacing = 60.0 / submissions_per_minute * (1 + SAFETY_MARGIN)

    def reserve(self, not_before: float = 0.0, *, max_backlog: float | None = None) -> float:
        """Reserve the next free slot at or after ``not_before`` (epoch seconds); returns its time.
        Refuses (BacklogFullError, nothing reserved) when that slot would be more than ``max_backlog``
        seconds from now; ``None``: however far."""
        # One clock reading for the whole reservation: once another writer's restart has lost ours the
        # race, the schedule is at or after ``lower`` for good (``next_free`` only grows), so the next take
        # succeeds. (Reading the clock again each round made slow rounds fall behind again and again.)
        now = self._clock()
        floor = max(now, not_before)
        # a schedule at most LATE_SLOT_GRACE_SECONDS behind the clock is still taken, atomically
        lower = max(now - LATE_SLOT_GRACE_SECONDS, not_before)
        limit = None if max_backlog is None else now + max_backlog
        if limit is not None and floor > limit:
            raise BacklogFullError(
                f"the earliest slot allowed is {floor - now:.0f} s away (limit {max_backlog:.0f} s)"
            )
        for _ in range(_ATTEMPTS):
            slot, known = self._take(lower, limit)
            if slot is not None:
                return slot
            # the schedule is behind ``lower``, empty (``known`` None), or too far ahead
            if known is not None and limit is not None and known > limit:
                raise BacklogFullError(
                    f"the next free submission slot is {known - now:.0f} s away (limit {limit - now:.0f} s)"
                )
            if self._restart(lower, floor + self.spacing):
                return floor
        raise RateLimiterBusyError(f"no slot reserved after {_ATTEMPTS} attempts")

    def push_back(self, until: float) -> None:
        """Move the whole schedule to start no sooner than ``until`` (the provider said Retry-After); a
        schedule that already starts later is left as it is."""
        self._restart(until, until)

    def _take(self, floor: float, limit: float | None) -> tuple[float | None, float | None]:
        """The next slot of a schedule that is at or after ``floor`` and not past ``limit``, taken in one
        atomic write; else no slot and the schedule's next free time that the refused condition saw (None:
        no schedule), nothing written."""
        values = {":spacing": decimal_seconds(self.spacing), ":floor": decimal_seconds(floor)}
        if limit is not None:
            values[":limit"] = decimal_seconds(limit)
        try:
            answer = self._table.update_item(
                Key={"id": self._limiter_id},
                UpdateExpression=_TAKE,
                ConditionExpression=_AT_OR_AFTER if limit is None else _IN_RANGE,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if condition_failed(exc):
                seen = refused_item(exc).get("next_free")
                return None, None if seen is None else float(seen)
            raise
        return float(answer["Attributes"]["next_free"]) - self.spacing, None

    def _restart(self, floor: float, next_free: float) -> bool:
        """Set the schedule's next free time, only if it is empty or behind ``floor``; False when it is not
        (another writer restarted or moved it first)."""
        try:
            self._table.update_item(
                Key={"id": self._limiter_id},
                UpdateExpression=_RESTART,
                ConditionExpression=_BEHIND,
                ExpressionAttributeValues={
                    ":next": decimal_seconds(next_free),
                    ":floor": decimal_seconds(floor),
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True


def decimal_seconds(seconds: float) -> Decimal:
    """Epoch seconds as DynamoDB stores them (a number to the microsecond)."""
    return Decimal(f"{seconds:.6f}")


def condition_failed(exc: ClientError) -> bool:
    """A conditional write that did not hold (another writer came first)."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
