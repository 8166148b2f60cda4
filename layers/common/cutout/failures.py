"""Failure records: ``<failure prefix><key>.json`` in the output bucket, one per image that could not be
cut out, saying why; plus an ``ImagesFailed`` metric and a ``Cutout Failed`` completion event
(``cutout.events``) for each."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from cutout import events as completion
from cutout.errors import OutcomeConflictError, ProviderTaskFailedError
from cutout.keys import failure_key
from cutout.observability import logger, metrics
from cutout.outcomes import (
    WRITE_ATTEMPTS,
    all_outcomes,
    lost_race,
    newer_outcome,
    settle_after_failure,
    write_condition,
)
from cutout.settings import Settings
from cutout.state import FailureRequest, FailureWritten, SourceObject
from cutout.urls import redact


def failure_reason(failure: dict[str, Any]) -> tuple[str, str]:
    """(error name, readable reason) from a state machine ``$.failure``: a Catch's ``{"Error", "Cause"}``
    whose Cause is the Lambda error payload as JSON, or a Pass state's plain ``Cause``."""
    error = str(failure.get("Error") or "UnknownError")
    cause = str(failure.get("Cause") or "")
    try:
        payload = json.loads(cause)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "errorMessage" in payload:
        cause = str(payload["errorMessage"])
    return error, cause or error


def write_failure_record(
    s3: Any,
    settings: Settings,
    source: SourceObject,
    *,
    error: str,
    reason: str,
    task_id: str | None = None,
    polls: int | None = None,
    attempt: int = 0,
    admitted_at: float | None = None,
    submitted_at: float | None = None,
    events: completion.EventPublisher | None = None,
) -> str:
    """Write (or overwrite: the same failure twice is harmless) the record, unless a newer outcome of the
    key stands (a newer upload's or a later request's, or this request's cutout: ``cutout.outcomes``);
    then settle (an older cutout goes) and publish its ``Cutout Failed`` event to ``events`` (the
    process's publisher to the settings' bus when none is given), with the times the caller knows:
    ``admitted_at`` and ``submitted_at`` (None before admission or submission). Returns its key. A record
    not written (a newer outcome stands) is no outcome: no event. The write is conditional on what was
    read, so two writers never both think they replaced the same record. The reason may quote an error
    message: any URL in it loses its query (a presigned signature) first."""
    key = failure_key(source.key, settings)
    reason = redact(reason)
    now = time.time()
    record = {
        "source": source.to_dict(),
        "error": error,
        "reason": reason,
        "task_id": task_id,
        "provider_reason": reason if error == ProviderTaskFailedError.__name__ else None,
        "polls": polls,
        "attempt": attempt,
        "recorded_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
    }
    body = json.dumps(record, indent=2, ensure_ascii=False).encode()
    for _ in range(WRITE_ATTEMPTS):
        outcomes = all_outcomes(s3, settings, source.key)
        standing = newer_outcome(outcomes, source, attempt, failure=True)
        if standing is not None:
            logger.info(
                "superseded: a newer outcome stands, no failure record written",
                extra={"error": error, "standing": standing.key, "standing_attempt": standing.attempt},
            )
            metrics.add_metric(name="FailureRecordsSuperseded", unit=MetricUnit.Count, value=1)
            return key
        condition = write_condition(next((o for o in outcomes if o.failure is not None), None))
        try:
            s3.put_object(
                Bucket=settings.output_bucket, Key=key, Body=body, ContentType="application/json", **condition
            )
            break
        except ClientError as exc:
            if not lost_race(exc):
                raise
    else:
        raise OutcomeConflictError(f"{key}: another writer replaced it {WRITE_ATTEMPTS} times in a row")
    if not settle_after_failure(s3, settings, source, attempt):
        return key  # withdrawn at once: a newer outcome stood up meanwhile, and has its own event
    metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=1)
    logger.warning("failure recorded", extra={"error": error, "reason": reason, "failure_key": key})
    event = completion.cutout_failed(
        source,
        error=error,
        reason=reason,
        record_bucket=settings.output_bucket,
        record_key=key,
        task_id=task_id,
        attempt=attempt,
        timings=completion.Timings(admitted_at=admitted_at, submitted_at=submitted_at, finished_at=now),
    )
    (events or completion.default_publisher(settings.event_bus_name)).publish(event)
    return key


def record_failure(
    s3: Any, settings: Settings, request: FailureRequest, events: completion.EventPublisher | None = None
) -> FailureWritten:
    """RecordFailureFunction's work: the failure record of an execution that ended without a cutout (it
    replaces an older outcome of the key, never a newer one: ``cutout.outcomes``), and its event."""
    error, reason = failure_reason(request.failure)
    key = write_failure_record(
        s3,
        settings,
        request.source,
        error=error,
        reason=reason,
        task_id=request.task_id,
        polls=request.polls,
        attempt=request.attempt,
        admitted_at=request.admitted_at,
        submitted_at=request.submitted_at,
        events=events,
    )
    return FailureWritten(bucket=settings.output_bucket, key=key)
