"""SubmitFunction's work for one SQS message, read by ``cutout.messages``: each upload it names (an S3
record, the object version an operator's reprocess request names, or an object the backfill listed) is
skipped (not ours: a folder
marker, our own outputs, outside the input prefix), rejected (failure record), or admitted: given a
submission slot and its execution started (the execution submits it to the provider when the slot comes,
see ``cutout.sending``). A deleted upload takes its outputs with it when RemoveOutputsOnDelete is on
(``cutout.removals``); any other record or message is logged at WARNING and counted. Transient errors
propagate, so the message is reported as a batch item failure and SQS delivers it again; a malformed one
raises MalformedMessageError, which SubmitFunction sets aside in the dead-letter queue at once."""

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
    PermanentError,
    SourceChangedError,
    UnsupportedInputError,
)
from cutout.failures import write_failure_record
from cutout.imaging import ACCEPTED_FORMATS, CONVERTED, convertible, probe
from cutout.keys import execution_name, skip_reason
from cutout.messages import Created, Item, Removed, S3TestEvent, read_message
from cutout.observability import logger, metrics
from cutout.options import Variant, is_default
from cutout.outcomes import all_outcomes
from cutout.pacing import SubmissionPacer
from cutout.removals import remove_outputs
from cutout.settings import Settings
from cutout.sources import read
from cutout.state import BackfillRequest, ExecutionState, ReprocessRequest, Slot, SourceObject

HEAD_BYTES = 64 * 1024  # enough for the JPEG frame header behind most EXIF blocks
LONG_HEAD_BYTES = 1024 * 1024  # second look when large metadata pushes the frame header further
# Step Functions' default quota of open Standard executions per account and region is 1,000,000
# (ExecutionLimitExceeded past it); the rest is left for executions past their slot and for others.
MAX_WAITING_EXECUTIONS = 900_000


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
        """Handle every record of one message (``cutout.messages``); returns one outcome per record. A
        malformed message raises MalformedMessageError before any record is handled."""
        return [self._process(item) for item in read_message(body)]

    def _process(self, item: Item) -> str:
        if isinstance(item, ReprocessRequest):
            logger.info("reprocess requested", extra={"attempt": item.attempt})
            return self.process_object(item.source, attempt=item.attempt)
        if isinstance(item, BackfillRequest):
            return self.process_backfill(item.source)
        if isinstance(item, Created):
            return self.process_object(item.source)
        if isinstance(item, Removed):
            return self.process_removal(item.source)
        if isinstance(item, S3TestEvent):
            logger.info(
                "S3 test event: the bucket's notifications reach this queue", extra={"bucket": item.bucket}
            )
            return "test event"
        return self._ignore(item.what, item.reason)

    def _ignore(self, what: str, reason: str) -> str:
        """A message or record that is not acted on: a WARNING (with the message id the handler appended)
        and ``MessagesIgnored`` or ``RecordsIgnored``."""
        logger.warning(f"{what} ignored", extra={"reason": reason})
        metrics.add_metric(name=f"{what.capitalize()}sIgnored", unit=MetricUnit.Count, value=1)
        return "ignored"

    def process_removal(self, source: SourceObject) -> str:
        """``removed`` | ``skipped`` | ``ignored``: an upload deleted (a version, or the key as a whole) takes
        its outputs with it when RemoveOutputsOnDelete is on (``cutout.removals``)."""
        logger.append_keys(object_key=source.key, object_revision=source.revision or "(key deleted)")
        if not self._settings.remove_outputs_on_delete:
            return self._ignore("record", "an upload was deleted, and RemoveOutputsOnDelete is off")
        if reason := self._not_ours(source):
            logger.info("skipped", extra={"reason": reason})
            return "skipped"
        remove_outputs(self._s3, self._settings, source)
        return "removed"

    def _skipped(self, source: SourceObject) -> bool:
        """Whether ``source`` is not ours (``_not_ours``): then logged, and counted as ``ImagesSkipped``."""
        if reason := self._not_ours(source):
            logger.info("skipped", extra={"reason": reason})
            metrics.add_metric(name="ImagesSkipped", unit=MetricUnit.Count, value=1)
            return True
        return False

    def _not_ours(self, source: SourceObject) -> str | None:
        if source.bucket != self._settings.input_bucket:
            return f"bucket {source.bucket!r} is not the input bucket"
        return skip_reason(source.key, self._settings)

    def process_object(self, source: SourceObject, attempt: int = 0) -> str:
        """``skipped`` | ``rejected`` | ``admitted`` | ``duplicate`` | ``superseded`` (overwritten since its
        notification). ``attempt`` 0 is the upload's own notification, n >= 1 the n-th reprocess request:
        each has an execution of its own."""
        logger.append_keys(object_key=source.key, object_revision=source.revision)
        if self._skipped(source):
            return "skipped"
        try:
            self._check_suffix(source.key)
            source, convert_from, metadata = self._inspect(source, pin=attempt > 0)
            variants = self._settings.output_options.resolve(source.key, metadata)
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
        return self._start_execution(source, attempt, convert_from, () if is_default(variants) else variants)

    def process_backfill(self, listed: SourceObject) -> str:
        """An object the backfill listed (its key and the ETag it was listed with), admitted as its own
        notification would be: attempt 0, pinned to its version as it is now, so its execution has the
        name the notification gives it and a backfill racing the notification starts one. ``superseded``
        when it was overwritten since it was listed (the newer upload has its own notification);
        ``skipped`` when an outcome of this very upload already exists (a second backfill, or one over
        uploads already processed, costs a HEAD and a look at the outputs); else as
        :meth:`process_object`."""
        logger.append_keys(object_key=listed.key, object_revision=listed.etag)
        if self._skipped(listed):
            return "skipped"
        try:
            head = read(self._s3.head_object, **listed.s3_location())
        except UnsupportedInputError:  # gone or unreadable: refused as its own notification would be
            return self.process_object(listed)
        source = replace(listed, version_id=head.get("VersionId") or None, etag=head["ETag"].strip('"'))
        if source.etag != listed.etag:
            return self._superseded(
                f"overwritten since the backfill listed it (ETag {source.etag}, listed {listed.etag})"
            )
        logger.append_keys(object_revision=source.revision)
        outcomes = all_outcomes(self._s3, self._settings, source.key)
        if done := next((outcome for outcome in outcomes if outcome.is_of(source)), None):
            logger.info(
                "skipped: this upload already has its outcome",
                extra={"reason": f"backfill: {done.key} is the outcome of this very upload"},
            )
            metrics.add_metric(name="BackfillSkipped", unit=MetricUnit.Count, value=1)
            return "skipped"
        return self.process_object(source, attempt=0)

    def _superseded(self, reason: str) -> str:
        logger.info("superseded", extra={"reason": reason})
        metrics.add_metric(name="ImagesSuperseded", unit=MetricUnit.Count, value=1)
        return "superseded"

    def _check_suffix(self, key: str) -> None:
        """An upload under the input prefix whose name does not end in an accepted suffix is refused
        unread, saying what is accepted (the content is checked by ``_inspect``)."""
        accepted = self._settings.accepted_suffixes
        if key.lower().endswith(accepted):
            return
        name = key.rpartition("/")[2]
        stem, dot, suffix = name.rpartition(".")
        found = f"suffix .{suffix}" if dot and stem else "a name without a suffix"
        formats = " or ".join(sorted(f.upper() for f in ACCEPTED_FORMATS))
        raise UnsupportedInputError(
            f"unsupported type: {found}; accepted are files named {', '.join(accepted)} "
            f"(AcceptedSuffixes) whose content is {formats}, or the format their suffix names"
        )

    def _inspect(
        self, source: SourceObject, pin: bool = False
    ) -> tuple[SourceObject, str | None, dict[str, str]]:
        """Is the object there, within the size limits, and really an image the provider accepts, or one
        converted for it (``cutout.imaging.CONVERTED``, named for its format)? Returns the source, the
        format to convert from (None: sent as it is) and its user metadata (where its output options
        are); with ``pin`` (a reprocess request), the source is pinned to the version id and ETag that
        the first read saw, so a request without a version id takes the object as it is now and reads
        only that. A converted format's pixel size is checked after decoding (``cutout.conversion``).
        One ranged GET reads the first bytes and all a HEAD would say (size, user metadata, version id,
        ETag); an empty object answers it 416 (``cutout.sources.read``: UnsupportedInputError)."""
        first = read(self._s3.get_object, Range=f"bytes=0-{HEAD_BYTES - 1}", **source.pinned_read())
        if pin:
            source = replace(
                source, version_id=first.get("VersionId") or source.version_id, etag=first["ETag"].strip('"')
            )
        metadata = dict(first.get("Metadata") or {})
        size = _object_size(first)
        if size == 0:
            raise UnsupportedInputError("empty file (0 bytes)")
        if size > self._settings.max_input_bytes:
            raise UnsupportedInputError(
                f"file is {size} bytes, over MAX_INPUT_BYTES ({self._settings.max_input_bytes})"
            )
        info = probe(bytes(first["Body"].read()))
        if info is not None and info.format == "jpeg" and info.width is None and size > HEAD_BYTES:
            info = probe(self._head(source, LONG_HEAD_BYTES))
        if info is None:
            raise UnsupportedInputError("not an image: its first bytes match no image format")
        if info.format in CONVERTED:
            if convertible(info.format, source.key):
                return source, info.format, metadata
            named = "/".join(CONVERTED[info.format])
            raise UnsupportedInputError(
                f"{info.format.upper()} content in a file not named {named}: a {info.format.upper()} "
                f"upload is converted only when its name says so (JPEG or PNG are sent under any name)"
            )
        if info.format not in ACCEPTED_FORMATS:
            raise UnsupportedInputError(
                f"{info.format.upper()} is not supported: JPEG or PNG, or one of "
                f"{', '.join(sorted({f.upper() for f in CONVERTED}))} in a file named for it"
            )
        if info.megapixels is None:
            raise UnsupportedInputError(
                f"{info.format.upper()} header is truncated or corrupt: no pixel size"
            )
        if info.megapixels > self._settings.max_input_megapixels:
            raise UnsupportedInputError(
                f"image is {info.width}x{info.height} ({info.megapixels:.1f} MP), "
                f"over MAX_INPUT_MEGAPIXELS ({self._settings.max_input_megapixels:g})"
            )
        return source, None, metadata

    def _head(self, source: SourceObject, length: int) -> bytes:
        response = read(self._s3.get_object, Range=f"bytes=0-{length - 1}", **source.pinned_read())
        return bytes(response["Body"].read())

    def _start_execution(
        self,
        source: SourceObject,
        attempt: int,
        convert_from: str | None = None,
        variants: tuple[Variant, ...] = (),
    ) -> str:
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
        state = ExecutionState.admitted(
            source,
            Slot.due(slot_at, now),
            admitted_at=now,
            attempt=attempt,
            convert_from=convert_from,
            variants=variants,
        )
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
        # how far ahead the schedule runs: the dashboard's backlog
        metrics.add_metric(
            name="SlotWaitSeconds", unit=MetricUnit.Seconds, value=round(max(0.0, slot_at - now), 3)
        )
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


def _object_size(response: dict[str, Any]) -> int:
    """The whole object's size from a ranged GET's answer: ``ContentRange`` (``bytes 0-65535/123456``),
    or ``ContentLength`` when the whole object came (a store that ignores the range)."""
    content_range = response.get("ContentRange")
    if content_range:
        return int(content_range.rpartition("/")[2])
    return int(response["ContentLength"])
