"""Completion events: each outcome of an upload (its cutout written, or its failure record) is published to
EventBridge as ``Cutout Created`` or ``Cutout Failed`` (source ``cutout``), on the bus the stack names
(``EventBusName``, the account's ``default`` bus unless set), so that automation learns of it without
listing a bucket. The shape is schema version :data:`SCHEMA_VERSION`, written down in
``events/schema/cutout-event.schema.json`` and the README; ``events/cutout_created.json`` and
``events/cutout_failed.json`` are samples.

Publishing never decides an outcome: it happens after the outcome is written, and when EventBridge cannot
take the event (after boto3's own retries of the call and a few retries of an entry it refused for a
retryable reason), the event is logged at WARNING, counted (``EventsNotPublished``) and dropped; the
function returns as it would have. The outcome in the output bucket stays the record of truth.

Size: EventBridge takes an entry of up to 256 KB (Time, Source, DetailType, Detail and Resources, as UTF-8
bytes: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html). A detail is a few
hundred bytes plus its keys: S3 keys are at most 1,024 bytes, an upload has at most
``cutout.options.MAX_VARIANTS`` outputs, and the reason is cut at :data:`MAX_REASON_CHARS` characters (the
failure record keeps it whole), so even the largest detail stays far below the limit
(``tests/unit/test_events.py`` builds it)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cutout import aws
from cutout.observability import logger, metrics
from cutout.state import ResultRequest, SourceObject, Written

SOURCE = "cutout"
CREATED = "Cutout Created"
FAILED = "Cutout Failed"
SCHEMA_VERSION = 1
#: the reason in a Cutout Failed event is cut here (with "…"); the failure record holds it whole
MAX_REASON_CHARS = 2048

# PutEvents can refuse single entries while the call succeeds (FailedEntryCount > 0, an ErrorCode per
# entry). Retryable, as the API reference lists them: InternalFailure and ThrottlingException; the others
# (AccessDeniedException, InvalidArgument, MalformedDetail, NotAuthorizedFor..., ResourceNotFound) would
# fail again. https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
RETRYABLE_ENTRY_ERRORS = frozenset({"InternalFailure", "ThrottlingException"})
ENTRY_ATTEMPTS = 3
#: the most each retry of a refused entry waits (full jitter: a random wait up to it), in seconds
ENTRY_BACKOFF_SECONDS = (0.2, 0.4)
# The call itself: boto3's standard retries (throttling, 5xx, connection errors; 3 attempts) with short
# timeouts, so that an unreachable EventBridge costs the function seconds, not its whole timeout.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=1, read_timeout=3)


@dataclass(frozen=True)
class Timings:
    """When the upload was admitted (its execution started) and submitted to the provider, epoch
    seconds, None when it never was (refused at admission, or failed before the provider had it), and
    when its outcome was written."""

    admitted_at: float | None
    submitted_at: float | None
    finished_at: float

    def to_dict(self) -> dict[str, str | None]:
        return {
            "admitted_at": _iso(self.admitted_at),
            "submitted_at": _iso(self.submitted_at),
            "finished_at": _iso(self.finished_at),
        }


@dataclass(frozen=True)
class CompletionEvent:
    """One event as PutEvents takes it: its detail-type and detail, and its time (the outcome's)."""

    detail_type: str
    detail: dict[str, Any]
    time: float

    def entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry for ``bus_name``."""
        return {
            "Source": SOURCE,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail, ensure_ascii=False, separators=(",", ":")),
            "Time": datetime.fromtimestamp(self.time, UTC),
            "EventBusName": bus_name,
        }


def cutout_created(request: ResultRequest, written: Written, finished_at: float) -> CompletionEvent | None:
    """``Cutout Created`` for what WriteResult returned: every output written for the upload. None when
    ``written`` is no outcome: a wait (the provider unavailable, nothing written yet) or nothing written
    (a newer outcome of the key stands)."""
    if not written.outputs or written.wait_seconds:
        return None
    timings = Timings(request.admitted_at, request.submitted_at, finished_at)
    outputs = [output.to_dict() for output in written.outputs]
    return _event(CREATED, request.source, request.task_id, request.attempt, timings, outputs=outputs)


def cutout_failed(
    source: SourceObject,
    *,
    error: str,
    reason: str,
    record_bucket: str,
    record_key: str,
    task_id: str | None,
    attempt: int,
    timings: Timings,
) -> CompletionEvent:
    """``Cutout Failed``: the error's name, the reason (cut at :data:`MAX_REASON_CHARS`) and where the
    failure record is."""
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    failure = {"error": error, "reason": reason, "record": {"bucket": record_bucket, "key": record_key}}
    return _event(FAILED, source, task_id, attempt, timings, failure=failure)


def _event(
    detail_type: str,
    source: SourceObject,
    task_id: str | None,
    attempt: int,
    timings: Timings,
    *,
    outputs: list[dict[str, Any]] | None = None,
    failure: dict[str, Any] | None = None,
) -> CompletionEvent:
    detail = {
        "schema_version": SCHEMA_VERSION,
        "source": {
            "bucket": source.bucket,
            "key": source.key,
            "version_id": source.version_id,
            "etag": source.etag,
        },
        "attempt": attempt,
        "task_id": task_id,
        "outputs": outputs or [],
        "failure": failure,
        "timings": timings.to_dict(),
    }
    return CompletionEvent(detail_type=detail_type, detail=detail, time=timings.finished_at)


@dataclass
class EventPublisher:
    """PutEvents of completion events to one bus. The EventBridge client is made on the first event (a
    cold start that publishes nothing does not pay for it), unless one is given. :meth:`publish` never
    raises for EventBridge's sake."""

    bus_name: str
    client: Any = None
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def publish(self, event: CompletionEvent) -> bool:
        """Put ``event`` on the bus; True when EventBridge took it. Otherwise (the call failed after
        boto3's retries, or the entry was refused for good or after :data:`ENTRY_ATTEMPTS` tries) a
        WARNING says why, ``EventsNotPublished`` counts it, and False is returned."""
        entry = event.entry(self.bus_name)
        for attempt in range(ENTRY_ATTEMPTS):
            if attempt:
                # full jitter: functions refused together do not all come back together
                self.sleep(random.uniform(0, ENTRY_BACKOFF_SECONDS[attempt - 1]))  # noqa: S311
            event_id, problem, retryable = self._put(entry)
            if event_id is not None:
                metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=1)
                logger.info(
                    "completion event published",
                    extra={"detail_type": event.detail_type, "event_id": event_id},
                )
                return True
            if not retryable:
                break
        metrics.add_metric(name="EventsNotPublished", unit=MetricUnit.Count, value=1)
        logger.warning(
            "completion event not published: the outcome stands, only its event is lost",
            extra={"detail_type": event.detail_type, "event_bus": self.bus_name, "reason": problem},
        )
        return False

    def _put(self, entry: dict[str, Any]) -> tuple[str | None, str, bool]:
        """One PutEvents of ``entry``: (its event id, "", False) when taken, else (None, why, whether an
        entry refused that way may be sent again). A call that failed whole has had boto3's retries."""
        if self.client is None:
            self.client = aws.client("events", config=CLIENT_CONFIG)
        try:
            answer = self.client.put_events(Entries=[entry])
        except ClientError as exc:
            return None, f"PutEvents answered {exc.response.get('Error', {}).get('Code', 'an error')}", False
        except BotoCoreError as exc:
            return None, f"PutEvents failed: {type(exc).__name__}", False
        [result] = answer["Entries"]
        if not answer.get("FailedEntryCount") and result.get("EventId"):
            return str(result["EventId"]), "", False
        code = str(result.get("ErrorCode") or "no EventId")
        problem = f"entry refused: {code}: {result.get('ErrorMessage', '')}".rstrip(": ")
        return None, problem, code in RETRYABLE_ENTRY_ERRORS


@cache
def default_publisher(bus_name: str) -> EventPublisher:
    """The process's publisher to ``bus_name``, for a caller that was given none (admission's failure
    records, ``cutout.failures``): made once, its client on its first event."""
    return EventPublisher(bus_name)


def _iso(moment: float | None) -> str | None:
    """RFC 3339 in UTC with milliseconds, as JSON Schema's ``date-time`` reads it."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
