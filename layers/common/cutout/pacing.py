"""The provider's rate limit, kept across every concurrent Lambda: a schedule of submission slots in
DynamoDB. Each submission reserves the next free slot (one conditional write); slots are spaced
``60 / submissions_per_minute`` seconds apart plus a safety margin, so no sliding minute ever holds
more than the allowance even when a submission reaches the provider a little after its slot. The
executions wait for their slots in Step Functions Wait states, so a burst drains at the allowed rate,
durably, with no Lambda sleeping and no SQS redelivery."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from cutout.errors import BacklogFullError, RateLimiterBusyError

SAFETY_MARGIN = 0.05  # 5 % wider spacing than the allowance: room for network jitter before the provider
LIMITER_ID = "novita-submissions"
_ATTEMPTS = 20
# Executions time out after 24 h: admit no more than 20 h of submissions ahead (12,000 images at 10/min).
MAX_BACKLOG_SECONDS = 20 * 3600


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

    def reserve(self, not_before: float = 0.0, *, max_backlog: float = MAX_BACKLOG_SECONDS) -> float:
        """Reserve the next free slot at or after ``not_before`` (epoch seconds); returns its time.
        Refuses (BacklogFullError, nothing reserved) when that slot is more than ``max_backlog`` away."""
        for _ in range(_ATTEMPTS):
            known = self._next_free()
            now = self._clock()
            slot = max(now, not_before, float(known or 0))
            if slot - now > max_backlog:
                raise BacklogFullError(
                    f"next submission slot is {slot - now:.0f} s away (limit {max_backlog:.0f} s)"
                )
            if self._advance(known, slot + self.spacing):
                return slot
            time.sleep(random.uniform(0.005, 0.05))  # noqa: S311 - jitter, not cryptography
        raise RateLimiterBusyError(f"no slot reserved after {_ATTEMPTS} contended attempts")

    def push_back(self, until: float) -> None:
        """Move the whole schedule to start no sooner than ``until`` (the provider said Retry-After)."""
        for _ in range(_ATTEMPTS):
            known = self._next_free()
            if float(known or 0) >= until or self._advance(known, until):
                return
        raise RateLimiterBusyError(f"schedule not pushed back after {_ATTEMPTS} contended attempts")

    def _next_free(self) -> Decimal | None:
        item = self._table.get_item(Key={"id": self._limiter_id}, ConsistentRead=True).get("Item")
        return item["next_free"] if item else None

    def _advance(self, known: Decimal | None, next_free: float) -> bool:
        """Compare-and-set of the schedule's next free time; False when another writer got there first."""
        condition = "attribute_not_exists(next_free)" if known is None else "next_free = :known"
        values: dict[str, Any] = {":next": Decimal(f"{next_free:.6f}")}
        if known is not None:
            values[":known"] = known
        try:
            self._table.update_item(
                Key={"id": self._limiter_id},
                UpdateExpression="SET next_free = :next",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
