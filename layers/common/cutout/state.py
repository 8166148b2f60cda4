"""The execution's state and the contracts between the state machine and the functions: the one place
their shapes are defined. Every step module reads and builds them here, so the steps never import each
other for a shape, and ``tests/template`` checks that the ASL's Parameters and ResultSelectors pick
exactly these fields (``TASK_CONTRACTS``).

Only ids travel: the object's identity, the task id, times and counts; never the image, a secret or a
presigned URL."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from cutout.errors import MalformedMessageError
from cutout.options import Variant

MIN_WAIT_SECONDS = 1  # a Wait state counts whole seconds
# The state machine's TimeoutSeconds is a static number in the ASL (DefinitionSubstitutions are strings
# only), a backstop that no execution reaches: the longest backlog the template's MaxBacklogDays allows,
# plus the longest MaxTaskWaitSeconds, plus twice the longest MaxProviderOutageSeconds (an outage while
# polling, one while downloading), plus this margin for the retries of Send, WriteResult and
# RecordFailure. tests/template checks the ASL's value against the template.
EXECUTION_MARGIN_SECONDS = 3600


@dataclass(frozen=True)
class SourceObject:
    """One uploaded object version: the only thing about an image that travels through the pipeline."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    sequencer: str | None = None  # S3's order of events for one key (hex, compare left-padded)

    @property
    def revision(self) -> str:
        """What tells two uploads of the same key apart: the version id, else the ETag."""
        return self.version_id or self.etag or ""

    def s3_location(self) -> dict[str, str]:
        """Bucket, Key and (when known) VersionId, as boto3's S3 calls take them."""
        location = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            location["VersionId"] = self.version_id
        return location

    def pinned_read(self) -> dict[str, str]:
        """What HEAD and GET take to read exactly this upload: its VersionId, or else ``IfMatch`` its
        ETag, so that an object overwritten since the notification answers 412 PreconditionFailed
        instead of the newer bytes."""
        location = self.s3_location()
        if not self.version_id and self.etag:
            location["IfMatch"] = f'"{self.etag}"'
        return location

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceObject:
        return cls(
            bucket=data["bucket"],
            key=data["key"],
            version_id=data.get("version_id"),
            etag=data.get("etag"),
            sequencer=data.get("sequencer"),
        )


@dataclass(frozen=True)
class Slot:
    """``$.slot``: when the execution may submit, and the whole seconds its Wait state waits first."""

    at: float
    wait_seconds: int

    @classmethod
    def due(cls, at: float, now: float) -> Slot:
        """A Wait state counts whole seconds: the rest of the way is slept in SendFunction."""
        return cls(at=at, wait_seconds=max(0, math.floor(at - now)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Slot:
        return cls(at=float(data["at"]), wait_seconds=int(data["wait_seconds"]))


PAUSED = "PAUSED"  # Poll.status while the provider is unavailable: nothing was asked (cutout.health)


@dataclass(frozen=True)
class Poll:
    """``$.poll``: what CheckStatus last learnt of the provider task, and when to look again. While the
    provider is unavailable the status is ``PAUSED`` and ``paused_seconds`` adds up the waits, which do
    not count against MaxTaskWaitSeconds. ``unfinished_until``: seconds after the submission until
    which the task is known unfinished (``cutout.looks.known_unfinished``); ``learns``: its first look
    came at once, so its duration, recorded when it ends, is unbiased (``cutout.durations``)."""

    status: str
    wait_seconds: int
    count: int
    deadline_passed: bool
    reason: str
    paused_seconds: int = 0
    unfinished_until: float = 0.0
    learns: bool = False

    @classmethod
    def initial(cls) -> Poll:
        """Nothing known yet: look after the shortest wait a Wait state allows."""
        return cls(status="QUEUED", wait_seconds=MIN_WAIT_SECONDS, count=0, deadline_passed=False, reason="")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Poll:
        return cls(
            status=str(data["status"]),
            wait_seconds=int(data["wait_seconds"]),
            count=int(data["count"]),
            deadline_passed=bool(data["deadline_passed"]),
            reason=str(data["reason"]),
            paused_seconds=int(data.get("paused_seconds", 0)),
            unfinished_until=float(data.get("unfinished_until", 0.0)),
            learns=bool(data.get("learns", False)),
        )


@dataclass(frozen=True)
class ExecutionState:
    """The execution's input and what SendFunction returns: the state the whole loop carries."""

    source: SourceObject
    slot: Slot
    poll: Poll
    admitted_at: float  # epoch seconds: the image waits for a slot until admitted_at + MaxBacklogDays
    task_id: str | None = None
    submitted_at: float | None = None
    attempt: int = (
        0  # 0: the upload's own notification; n >= 1: the n-th reprocess request (ReprocessRequest)
    )
    superseded: bool = False  # the object changed before it was submitted: the execution ends, no outcome
    # The outputs the upload asked for (cutout.options), resolved at admission; none: the one default
    # cutout, streamed as it came.
    variants: tuple[Variant, ...] = ()
    # The upload's format when ConvertFunction turns it into a PNG before each submission
    # (cutout.conversion: webp, heic, heif, avif, tiff, bmp, gif); None: it is sent as it is.
    convert_from: str | None = None

    @classmethod
    def admitted(
        cls,
        source: SourceObject,
        slot: Slot,
        admitted_at: float,
        attempt: int = 0,
        variants: tuple[Variant, ...] = (),
        convert_from: str | None = None,
    ) -> ExecutionState:
        """The first state, as SubmitFunction starts the execution: not submitted yet."""
        return cls(
            source=source,
            slot=slot,
            poll=Poll.initial(),
            admitted_at=admitted_at,
            attempt=attempt,
            variants=variants,
            convert_from=convert_from,
        )

    def rescheduled(self, slot: Slot) -> ExecutionState:
        """Not submitted (yet): wait for ``slot``."""
        return replace(self, slot=slot)

    def ended_superseded(self) -> ExecutionState:
        """Not submitted, and never will be: the key was overwritten (unversioned) since this upload's
        notification; the newer upload has its own execution."""
        return replace(self, superseded=True)

    def submitted(self, task_id: str, submitted_at: float, poll: Poll | None = None) -> ExecutionState:
        """Submitted to the provider: the polling starts afresh, from ``poll`` (what a look just after
        submitting found) or, without one, from ``Poll.initial()``."""
        return replace(self, task_id=task_id, submitted_at=submitted_at, poll=poll or Poll.initial())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source.to_dict(),
            "admitted_at": self.admitted_at,
            "task_id": self.task_id,
            "submitted_at": self.submitted_at,
            "slot": self.slot.to_dict(),
            "poll": self.poll.to_dict(),
            "attempt": self.attempt,
            "superseded": self.superseded,
            "variants": variants_to_list(self.variants),
            "convert_from": self.convert_from,
        }

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ExecutionState:
        submitted_at = event.get("submitted_at")
        slot = Slot.from_dict(event["slot"])
        return cls(
            source=SourceObject.from_dict(event["source"]),
            slot=slot,
            poll=Poll.from_dict(event["poll"]),
            # an execution started before admitted_at existed: its bound counts from its slot
            admitted_at=float(event.get("admitted_at", slot.at)),
            task_id=event.get("task_id"),
            submitted_at=None if submitted_at is None else float(submitted_at),
            attempt=int(event.get("attempt", 0)),  # an execution started before attempts existed: 0
            superseded=bool(event.get("superseded", False)),
            variants=variants_from_list(event.get("variants")),
            convert_from=event.get("convert_from"),  # started before conversions existed: none
        )


def variants_to_list(variants: tuple[Variant, ...]) -> list[dict[str, Any]]:
    return [variant.to_dict() for variant in variants]


def variants_from_list(data: list[dict[str, Any]] | None) -> tuple[Variant, ...]:
    """An execution started before options existed carries none: the default cutout."""
    return tuple(Variant.from_dict(item) for item in data or ())


@dataclass(frozen=True)
class PollRequest:
    """CheckStatusFunction's event: which task, since when, how many polls so far, and how long the
    polling has been paused by provider outages."""

    task_id: str
    submitted_at: float
    count: int
    paused_seconds: int = 0
    unfinished_until: float = 0.0
    learns: bool = False

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> PollRequest:
        return cls(
            task_id=str(event["task_id"]),
            submitted_at=float(event["submitted_at"]),
            count=int(event["count"]),
            # an execution started before outages paused polls (or before durations were learnt)
            # carries none
            paused_seconds=int(event.get("paused_seconds") or 0),
            unfinished_until=float(event.get("unfinished_until") or 0.0),
            learns=bool(event.get("learns") or False),
        )


@dataclass(frozen=True)
class ResultRequest:
    """WriteResultFunction's event: the finished task of one object version, the outputs it asked for,
    and when it was admitted and submitted (for the completion event)."""

    source: SourceObject
    task_id: str
    attempt: int = 0
    variants: tuple[Variant, ...] = ()
    admitted_at: float | None = None
    submitted_at: float | None = None
    convert_from: str | None = None  # the upload's format when it was converted (its profile is there)

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ResultRequest:
        return cls(
            source=SourceObject.from_dict(event["source"]),
            task_id=str(event["task_id"]),
            attempt=int(event.get("attempt", 0)),
            variants=variants_from_list(event.get("variants")),
            admitted_at=_optional_time(event.get("admitted_at")),
            submitted_at=_optional_time(event.get("submitted_at")),
            convert_from=event.get("convert_from"),
        )


def _optional_time(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class OutputWritten:
    """One output written for an upload: where, how large, its format (``png``, ``webp``, ``jpg``) and
    its variant (None for the single output of an upload without variants)."""

    bucket: str
    key: str
    bytes: int
    format: str
    variant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Written:
    """What WriteResultFunction returns (``$.output``): where the cutout is, and its size (0 when a newer
    upload's cutout was already there and nothing was written). ``wait_seconds`` > 0: nothing written
    yet, the provider or its result host is unavailable; the state machine waits that long and asks
    again."""

    bucket: str
    key: str
    bytes: int
    wait_seconds: int = 0
    outputs: tuple[OutputWritten, ...] = ()  # every output written, the first at ``key``

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "bytes": self.bytes,
            "wait_seconds": self.wait_seconds,
            "outputs": [output.to_dict() for output in self.outputs],
        }


@dataclass(frozen=True)
class FailureRequest:
    """RecordFailureFunction's event: the object, the task if there was one, and ``failure``: a Catch's
    ``{"Error", "Cause"}`` (Cause is the Lambda error payload as JSON) or a Pass state's plain Cause."""

    source: SourceObject
    task_id: str | None
    failure: dict[str, Any]
    polls: int | None
    attempt: int = 0
    admitted_at: float | None = None
    submitted_at: float | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> FailureRequest:
        polls = event.get("polls")
        return cls(
            source=SourceObject.from_dict(event["source"]),
            task_id=event.get("task_id"),
            failure=dict(event["failure"]),
            polls=None if polls is None else int(polls),
            attempt=int(event.get("attempt", 0)),
            admitted_at=_optional_time(event.get("admitted_at")),
            submitted_at=_optional_time(event.get("submitted_at")),
        )


@dataclass(frozen=True)
class FailureWritten:
    """What RecordFailureFunction returns (``$.failure_record``)."""

    bucket: str
    key: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _envelope_problem(body: dict[str, Any], schema: int, own_fields: set[str]) -> str | None:
    """What is wrong with an operator's message (reprocess, backfill) before its own fields are read: its
    schema, its exact set of fields (``message``, ``schema``, ``bucket``, ``key`` and ``own_fields``), a
    bucket and key that are non-empty strings; None when nothing is."""
    fields = {"message", "schema", "bucket", "key", *own_fields}
    if body.get("schema") != schema:
        return f"schema {body.get('schema')!r} (this code reads {schema})"
    if set(body) != fields:
        return f"fields {sorted(body)}, expected {sorted(fields)}"
    bucket, key = body["bucket"], body["key"]
    if not (isinstance(bucket, str) and bucket and isinstance(key, str) and key):
        return "bucket and key must be non-empty strings"
    return None


@dataclass(frozen=True)
class ReprocessRequest:
    """An operator's request to process one object version again (``cutout.reprocessing``): a message on
    the ingest queue beside S3's notifications, admitted by the same code. Its body (schema 1)::

        {"message": "cutout.reprocess", "schema": 1, "bucket": "...", "key": "uploads/a.jpg",
         "version_id": "..." or null, "attempt": 1}

    ``key`` is the plain object key (not URL-encoded); ``version_id`` null takes the object as it is when
    the request is admitted; ``attempt`` (>= 1) makes the request unique: the same request delivered
    twice starts one execution, the next request (attempt + 1) another."""

    MESSAGE = "cutout.reprocess"
    SCHEMA = 1

    source: SourceObject
    attempt: int

    @classmethod
    def is_one(cls, body: Any) -> bool:
        """Whether a parsed message body says it is a reprocess request (of any schema)."""
        return isinstance(body, dict) and body.get("message") == cls.MESSAGE

    def to_message(self) -> str:
        return json.dumps(
            {
                "message": self.MESSAGE,
                "schema": self.SCHEMA,
                "bucket": self.source.bucket,
                "key": self.source.key,
                "version_id": self.source.version_id,
                "attempt": self.attempt,
            }
        )

    @classmethod
    def from_message(cls, body: dict[str, Any]) -> ReprocessRequest:
        """The request in a parsed message body; MalformedMessageError when it is not schema 1 or a field
        is missing or mistyped."""
        problem = _envelope_problem(body, cls.SCHEMA, {"version_id", "attempt"})
        if problem is None:
            bucket, key, version_id, attempt = (
                body["bucket"],
                body["key"],
                body["version_id"],
                body["attempt"],
            )
            if not (version_id is None or (isinstance(version_id, str) and version_id)):
                problem = "version_id must be null or a non-empty string"
            elif type(attempt) is not int or attempt < 1:
                problem = f"attempt must be an integer >= 1, got {attempt!r}"
        if problem:
            raise MalformedMessageError(f"reprocess request not understood: {problem}")
        return cls(source=SourceObject(bucket=bucket, key=key, version_id=version_id), attempt=attempt)


@dataclass(frozen=True)
class BackfillRequest:
    """One object the backfill state machine listed in the input bucket (statemachine/backfill.asl.json):
    a message on the ingest queue, admitted as that upload's own notification would be (attempt 0, the
    same execution name). Its body (schema 1)::

        {"message": "cutout.backfill", "schema": 1, "bucket": "...", "key": "uploads/a.jpg",
         "etag": "\\"9b2cf535f27731c974343645a3985328\\""}

    ``key`` is the plain object key; ``etag`` the ListObjectsV2 ``Etag`` it was listed with (quoted, as
    S3 lists it; read without the quotes). Admission compares it with the object's ETag now, so an
    object overwritten since it was listed is left to its own notification."""

    MESSAGE = "cutout.backfill"
    SCHEMA = 1

    source: SourceObject

    @classmethod
    def is_one(cls, body: Any) -> bool:
        """Whether a parsed message body says it is a backfill request (of any schema)."""
        return isinstance(body, dict) and body.get("message") == cls.MESSAGE

    def to_message(self) -> str:
        return json.dumps(
            {
                "message": self.MESSAGE,
                "schema": self.SCHEMA,
                "bucket": self.source.bucket,
                "key": self.source.key,
                "etag": f'"{self.source.etag}"',
            }
        )

    @classmethod
    def from_message(cls, body: dict[str, Any]) -> BackfillRequest:
        """The request in a parsed message body; MalformedMessageError when it is not schema 1 or a field
        is missing or mistyped."""
        problem = _envelope_problem(body, cls.SCHEMA, {"etag"})
        if problem is None:
            bucket, key, etag = body["bucket"], body["key"], body["etag"]
            if not (isinstance(etag, str) and etag.strip('"')):
                problem = f"etag must be a non-empty string, got {etag!r}"
        if problem:
            raise MalformedMessageError(f"backfill request not understood: {problem}")
        return cls(source=SourceObject(bucket=bucket, key=key, etag=etag.strip('"')))


# Each Task state of the ASL: the shape its function is given, and the shape of what it returns.
TASK_CONTRACTS: dict[str, tuple[type[Any], type[Any]]] = {
    "Convert": (ExecutionState, ExecutionState),
    "Send": (ExecutionState, ExecutionState),
    "CheckStatus": (PollRequest, Poll),
    "WriteResult": (ResultRequest, Written),
    "RecordFailure": (FailureRequest, FailureWritten),
}
