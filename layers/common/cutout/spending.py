"""The spend guard: at most MaxSubmissionsPerDay submissions to the provider per UTC day, counted in the
schedule's DynamoDB table (one item per day, expired by the table's TTL two days later). A runaway job
that drops a million objects spends the cap, not a million provider calls: past it, SendFunction keeps
each image waiting in the schedule and tries again (see ``cutout.sending``), a metric drives an alarm,
and raising the parameter resumes them at their next try.

Counting is one conditional atomic ``ADD`` per submission, made before the submission: a submission
that certainly created no task (429, a refused request) gives its count back; one whose answer was lost
keeps it (the provider may have billed it). So the count never falls short of what was spent."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

_ITEM_PREFIX = "submissions-on#"
_COUNT = "ADD submitted :one SET expires_at = :expires"
_BELOW_CAP = "attribute_not_exists(submitted) OR submitted < :cap"
_UNCOUNT = "ADD submitted :minus_one"
_COUNTED = "submitted > :zero"
_KEEP_SECONDS = 2 * 86400  # a day's count is kept this long after the day ends, then expired by TTL


class DailySubmissionCap:
    def __init__(self, table: Any, per_day: int, *, clock: Callable[[], float] = time.time) -> None:
        """``per_day`` 0: no cap (nothing is counted)."""
        self._table = table
        self.per_day = per_day
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self.per_day > 0

    def take(self) -> bool:
        """Count one submission for today; False (nothing counted) when today's cap is reached."""
        if not self.enabled:
            return True
        day_start = self._day_start()
        try:
            self._table.update_item(
                Key={"id": self._item_id(day_start)},
                UpdateExpression=_COUNT,
                ConditionExpression=_BELOW_CAP,
                ExpressionAttributeValues={
                    ":one": 1,
                    ":cap": self.per_day,
                    ":expires": int(day_start + 86400 + _KEEP_SECONDS),
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def give_back(self) -> None:
        """Uncount one submission of today that certainly created no task."""
        if not self.enabled:
            return
        try:
            self._table.update_item(
                Key={"id": self._item_id(self._day_start())},
                UpdateExpression=_UNCOUNT,
                ConditionExpression=_COUNTED,
                ExpressionAttributeValues={":minus_one": -1, ":zero": 0},
            )
        except ClientError as exc:  # nothing counted today (the day turned meanwhile): nothing to give back
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def next_day(self) -> float:
        """When the count starts again from zero (epoch seconds)."""
        return self._day_start() + 86400

    def _day_start(self) -> float:
        now = datetime.fromtimestamp(self._clock(), UTC)
        return datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp()

    @staticmethod
    def _item_id(day_start: float) -> str:
        return _ITEM_PREFIX + datetime.fromtimestamp(day_start, UTC).date().isoformat()
