"""SubmitFunction's work for one SQS message: each S3 record in it, or the object version an operator's
reprocess request names (``cutout.state.ReprocessRequest``), is skipped (not ours), rejected (failure
record), or admitted: given a submission slot and its execution started (the execution submits it to the
provider when the slot comes, see ``cutout.sending``). Transient errors propagate, so the message is
reported as a batch item failure and SQS delivers it again; so does a message that is neither (it ends in
the DLQ)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from cutout.errors import (
    BacklogFullError,
    MalformedMessageError,
    PermanentError,
    SourceChangedError,
    UnsupportedInputError,
)
from cutout.failures import write_failure_record
from cutout.imaging import ACCEPTED_FORMATS, probe
from cutout.keys import decode_event_key, execution_name, skip_reason
from cutout.observability import logger, metrics
from cutout.pacing import SubmissionPacer
from cutout.settings import Settings
from cutout.sources import read
from cutout.state import ExecutionState, ReprocessRequest, Slot, SourceObject

HEAD_BYTES = 64 * 1024  # enough for the JPEG frame header behind most EXIF blocks
LONG_HEAD_BYTES = 1024 * 1024  # second look when large metadata pushes the frame header further
# Step Functions' default quota of open Standard executions per account and region is 1,000,000
# (ExecutionLimitExceeded past it); the rest is left for executions past their slot and for others.
MAX_WAITING_EXECUTIONS = 900_000


def parsed(body: str) -> Any:
    """An SQS message body as JSON: an S3 notification or a reprocess request."""
    try:
        return json.loads(body)
    except ValueError:
        raise MalformedMessageError("SQS message is not JSON: not an S3 notification") from None


def s3_records(body: str) -> list[SourceObject]:
    """The created objects in one S3 notification (SQS message body)."""
    event = parsed(body)
    found = []  # S3's test event ({"Event": "s3:TestEvent", ...}) has no Records: nothing to do
    for record in event.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        obj = record["s3"]["object"]
        found.append(
            SourceObject(
                bucket=record["s3"]["bucket"]["name"],
                key=decode_event_key(obj["key"]),
                version_id=obj.get("versionId") or None,
                etag=obj.get("eTag") or None,
                sequencer=obj.get("sequencer") or None,
            )
        )
    return found


class Intake:
    def __init__(
        self,
        *,
        settings: Settings,
        s3: Any,
        sfn: Any,
        pacer: SubmissionPacer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._sfn = sfn
        self._pacer = pacer
        self._clock = clock

    def process_message(self, body: str) -> list[str]:
        """Handle every record of one message; returns one outcome per record."""
        if ReprocessRequest.is_one(message := parsed(body)):
            request = ReprocessRequest.from_message(message)
            logger.info("reprocess requested", extra={"attempt": request.attempt})
            return [self.process_object(request.source, attempt=request.attempt)]
        return [self.process_object(source) for source in s3_records(body)]

    def process_object(self, source: SourceObject, attempt: int = 0) -> str:
        """``skipped`` | ``rejected`` | ``admitted`` | ``duplicate`` | ``superseded`` (overwritten since its
        notification). ``attempt`` 0 is the upload's own notification, n >= 1 the n-th reprocess request:
        each has an execution of its own."""
        logger.append_keys(object_key=source.key, object_revision=source.revision)
        if source.bucket != self._settings.input_bucket:
            reason: str | None = f"bucket {source.bucket!r} is not the input bucket"
        else:
            reason = skip_reason(source.key, self._settings)
        if reason:
            logger.info("skipped", extra={"reason": reason})
            metrics.add_metric(name="ImagesSkipped", unit=MetricUnit.Count, value=1)
            return "skipped"
        try:
            source = self._inspect(source, pin=attempt > 0)
        except SourceChangedError as exc:
            # An unversioned key overwritten since this notification: the newer upload has its own; a
            # failure record here would name this upload for the newer bytes.
            logger.info("superseded: the object changed since this notification", extra={"reason": str(exc)})
            metrics.add_metric(name="ImagesSuperseded", unit=MetricUnit.Count, value=1)
            return "superseded"
        except PermanentError as exc:
            write_failure_record(
                self._s3, self._settings, source, error=type(exc).__name__, reason=str(exc), attempt=attempt
            )
            return "rejected"
        return self._start_execution(source, attempt)

    def _inspect(self, source: SourceObject, pin: bool = False) -> SourceObject:
        """Is the object there, within the size limits, and really an image the provider accepts? Returns
        the source; with ``pin`` (a reprocess request), pinned to the version id and ETag that HEAD saw,
        so a request without a version id takes the object as it is now and reads only that."""
        head = read(self._s3.head_object, **source.pinned_read())
        if pin:
            source = replace(
                source, version_id=head.get("VersionId") or source.version_id, etag=head["ETag"].strip('"')
            )
        size = int(head["ContentLength"])
        if size == 0:
            raise UnsupportedInputError("empty file (0 bytes)")
        if size > self._settings.max_input_bytes:
            raise UnsupportedInputError(
                f"file is {size} bytes, over MAX_INPUT_BYTES ({self._settings.max_input_bytes})"
            )
        info = probe(self._head(source, HEAD_BYTES))
        if info is not None and info.format == "jpeg" and info.width is None and size > HEAD_BYTES:
            info = probe(self._head(source, LONG_HEAD_BYTES))
        if info is None:
            raise UnsupportedInputError("not an image: its first bytes match no image format")
        if info.format not in ACCEPTED_FORMATS:
            raise UnsupportedInputError(f"{info.format.upper()} is not supported (JPEG or PNG only)")
        if info.megapixels is None:
            raise UnsupportedInputError(
                f"{info.format.upper()} header is truncated or corrupt: no pixel size"
            )
        if info.megapixels > self._settings.max_input_megapixels:
            raise UnsupportedInputError(
                f"image is {info.width}x{info.height} ({info.megapixels:.1f} MP), "
                f"over MAX_INPUT_MEGAPIXELS ({self._settings.max_input_megapixels:g})"
            )
        return source

    def _head(self, source: SourceObject, length: int) -> bytes:
        response = read(self._s3.get_object, Range=f"bytes=0-{length - 1}", **source.pinned_read())
        return bytes(response["Body"].read())

    def _start_execution(self, source: SourceObject, attempt: int) -> str:
        name = execution_name(source, attempt)
        if self._started(name):  # a duplicate notification: it must not take a slot from the schedule
            logger.info("duplicate: execution already exists", extra={"execution": name})
            return "duplicate"
        now = self._clock()
        try:
            slot_at = self._pacer.reserve(max_backlog=self._backlog_bound())
        except BacklogFullError as exc:
            reason = (
                f"not admitted: the submission schedule is full for longer than MaxBacklogDays "
                f"({self._settings.max_backlog_days}) allows, or to Step Functions' quota of open "
                f"executions ({exc}). Nothing was sent to the provider; upload it again later, or raise "
                "MaxBacklogDays or SubmissionsPerMinute."
            )
            write_failure_record(
                self._s3, self._settings, source, error=type(exc).__name__, reason=reason, attempt=attempt
            )
            return "rejected"
        state = ExecutionState.admitted(source, Slot.due(slot_at, now), admitted_at=now, attempt=attempt)
        try:
            self._sfn.start_execution(
                stateMachineArn=self._settings.state_machine_arn, name=name, input=json.dumps(state.to_dict())
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            # Started by a concurrent duplicate since we looked: the slot just reserved goes unused.
            logger.info("duplicate: execution already exists", extra={"execution": name})
            return "duplicate"
        metrics.add_metric(name="ImagesAdmitted", unit=MetricUnit.Count, value=1)
        logger.info("admitted", extra={"execution": name, "slot": state.slot.to_dict()})
        return "admitted"

    def _backlog_bound(self) -> float:
        """How far ahead a slot may be: MaxBacklogDays, and no more waiting executions than Step
        Functions allows open at once (past that StartExecution fails, and the upload would go round the
        queue to the DLQ)."""
        return min(self._settings.max_backlog_seconds, MAX_WAITING_EXECUTIONS * self._pacer.spacing)

    def _started(self, name: str) -> bool:
        """Whether this object version's execution exists (running or ended), by its deterministic name."""
        arn = f"{self._settings.needed('state_machine_arn').replace(':stateMachine:', ':execution:')}:{name}"
        try:
            self._sfn.describe_execution(executionArn=arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False
            raise
        return True
