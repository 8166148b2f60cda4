"""Failure records: ``<failure prefix><key>.json`` in the output bucket, one per image that could not be
cut out, saying why; plus an ``ImagesFailed`` metric for each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cutout.errors import ProviderTaskFailedError
from cutout.keys import failure_key
from cutout.observability import logger, metrics
from cutout.outcomes import remove_replaced_cutout
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
) -> str:
    """Write (or overwrite: the same failure twice is harmless) the record; returns its key. The reason
    may quote an error message: any URL in it loses its query (a presigned signature) first."""
    key = failure_key(source.key, settings)
    reason = redact(reason)
    record = {
        "source": source.to_dict(),
        "error": error,
        "reason": reason,
        "task_id": task_id,
        "provider_reason": reason if error == ProviderTaskFailedError.__name__ else None,
        "polls": polls,
        "attempt": attempt,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    s3.put_object(
        Bucket=settings.output_bucket,
        Key=key,
        Body=json.dumps(record, indent=2, ensure_ascii=False).encode(),
        ContentType="application/json",
    )
    metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=1)
    logger.warning("failure recorded", extra={"error": error, "reason": reason, "failure_key": key})
    return key


def record_failure(s3: Any, settings: Settings, request: FailureRequest) -> FailureWritten:
    """RecordFailureFunction's work: the failure record of an execution that ended without a cutout; a
    reprocess request's record replaces the cutout of an earlier request (``cutout.outcomes``)."""
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
    )
    remove_replaced_cutout(s3, settings, request.source, request.attempt)
    return FailureWritten(bucket=settings.output_bucket, key=key)
