"""Executions that ended without a cutout: each one's EventBridge "Step Functions Execution Status Change"
event (FAILED, TIMED_OUT or ABORTED) comes here, and the failure record the execution did not write is
written now.

The state machine's own way to a failure (Catch → RecordFailure → Fail) writes the record before the
execution fails, so most FAILED events find it and change nothing: a failure record or a cutout of the
same upload revision means the upload has its outcome. What is left is whatever ended the execution from
outside: its TimeoutSeconds, a StopExecution, or an error no Catch handles (RecordFailure itself out of
retries, a ``States.Runtime`` error). A newer upload's outcome at the same key is not written over.
Idempotent: a second delivery of the same event finds the first one's record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cutout.errors import ExecutionInputUnreadableError
from cutout.events import EventPublisher
from cutout.failures import failure_reason, write_failure_record
from cutout.keys import CUTOUT_EXTENSIONS, failure_key, output_key, sequencer_after
from cutout.observability import logger
from cutout.settings import Settings
from cutout.state import ExecutionState, SourceObject

#: the statuses the template's rule sends here: the execution ended, and not with a cutout
ENDED_WITHOUT_CUTOUT = ("FAILED", "TIMED_OUT", "ABORTED")
_ERROR = {"TIMED_OUT": "ExecutionTimedOut", "ABORTED": "ExecutionAborted", "FAILED": "ExecutionFailed"}
_WHAT = {
    "TIMED_OUT": "timed out (it ran longer than the state machine's TimeoutSeconds)",
    "ABORTED": "was aborted (stopped by StopExecution)",
    "FAILED": "failed outside the state machine's own Catch",
}


@dataclass(frozen=True)
class EndedExecution:
    """What is used of the event's ``detail``: the execution, how it ended, and its input (the state
    SubmitFunction started it with). ``error`` and ``cause`` are there when the execution has them."""

    arn: str
    name: str
    status: str
    state: ExecutionState
    error: str | None = None
    cause: str | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> EndedExecution:
        """Raises :class:`ExecutionInputUnreadableError` (logged with the execution's ARN) when the input
        is missing: EventBridge leaves it out of an event that would be too large
        (``inputDetails.included`` false), or it is not an execution state."""
        detail = event.get("detail") or {}
        arn = str(detail.get("executionArn", ""))
        try:
            if not (detail.get("inputDetails") or {}).get("included", True):
                raise ValueError("the event does not include it (inputDetails.included is false)")
            state = ExecutionState.from_event(json.loads(detail["input"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            logger.error(
                "ended execution's input unreadable", extra={"execution_arn": arn, "problem": problem}
            )
            raise ExecutionInputUnreadableError(f"execution {arn}: input unreadable ({problem})") from None
        return cls(
            arn=arn,
            name=str(detail.get("name", "")),
            status=str(detail.get("status", "")),
            state=state,
            error=detail.get("error") or None,
            cause=detail.get("cause") or None,
        )


def ended_reason(ended: EndedExecution) -> tuple[str, str]:
    """(error name, readable reason) of an execution that ended without writing its own record: the
    status as the error (the execution's own error when it failed), and what happened, with the
    execution's error and cause when it has them, and its ARN."""
    error = _ERROR[ended.status]
    if ended.status == "FAILED" and ended.error:
        error = ended.error
    parts = [f"execution {ended.name} {_WHAT[ended.status]}; it wrote no cutout and no failure record"]
    if ended.error or ended.cause:
        _, cause = failure_reason({"Error": ended.error, "Cause": ended.cause})
        said = ended.error or "cause"
        parts.append(f"{said}: {cause}" if cause != ended.error else said)
    parts.append(f"status {ended.status}, execution {ended.arn}")
    return error, "; ".join(parts)


def record_ended_execution(
    s3: Any, settings: Settings, ended: EndedExecution, events: EventPublisher | None = None
) -> str | None:
    """Write the failure record of an execution that ended without one, and publish its event to
    ``events`` (``cutout.failures``); the record's key, or None when there was nothing to write (the
    upload, or a newer one of its key, has its outcome already)."""
    source = ended.state.source
    if ended.status not in ENDED_WITHOUT_CUTOUT:
        logger.info(
            "execution did not end without a cutout: nothing to record", extra={"status": ended.status}
        )
        return None
    attempt = ended.state.attempt
    existing = existing_outcome(s3, settings, source, attempt)
    if existing is not None:
        logger.info("outcome already written", extra={"status": ended.status, "existing": existing})
        return None
    error, reason = ended_reason(ended)
    key = write_failure_record(
        s3,
        settings,
        source,
        error=error,
        reason=reason,
        task_id=ended.state.task_id,
        attempt=attempt,
        admitted_at=ended.state.admitted_at,
        submitted_at=ended.state.submitted_at,
        events=events,
    )
    return key


def existing_outcome(s3: Any, settings: Settings, source: SourceObject, attempt: int = 0) -> str | None:
    """What the output bucket already holds for this upload revision from this request or a later one
    (its failure record or its cutout: an earlier request's does not count, ``cutout.outcomes``), or for
    a newer upload of the same key (S3's sequencer says which is newer); None when nothing."""
    record = _json_object(s3, settings.output_bucket, failure_key(source.key, settings))
    if record is not None:
        theirs = SourceObject.from_dict(record["source"])
        if theirs.revision == source.revision and int(record.get("attempt", 0)) >= attempt:
            return "its failure record"
        if sequencer_after(theirs.sequencer, source.sequencer):
            return "a newer upload's failure record"
    for extension in CUTOUT_EXTENSIONS:
        metadata = _metadata(s3, settings.output_bucket, output_key(source.key, settings, extension))
        if metadata is None:
            continue
        if metadata.get("source-version") == source.revision and int(metadata.get("attempt", 0)) >= attempt:
            return "its cutout"
        if sequencer_after(metadata.get("source-sequencer"), source.sequencer):
            return "a newer upload's cutout"
    return None


def _json_object(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    if not _exists(s3, bucket, key):
        return None
    record: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return record


def _metadata(s3: Any, bucket: str, key: str) -> dict[str, str] | None:
    if not _exists(s3, bucket, key):
        return None
    metadata: dict[str, str] = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
    return metadata


def _exists(s3: Any, bucket: str, key: str) -> bool:
    """Asked by listing the key as a prefix (the function may list the output bucket): an answer that
    does not depend on how S3 words a missing key to a HEAD. The key sorts first among the keys it
    prefixes."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    return bool(listed) and listed[0]["Key"] == key
