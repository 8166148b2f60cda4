"""One message of the ingest queue, read: what it asks for, record by record, so that each has a fate.

- an S3 notification: each record an object created (``Created``), an object version or a key deleted
  (``Removed``), or an event of another kind (``Ignored``);
- an operator's reprocess request (``cutout.state.ReprocessRequest``);
- an object listed by the backfill state machine (``cutout.state.BackfillRequest``);
- S3's test event (``s3:TestEvent``, sent once when the bucket's notification is configured);
- any other JSON object, an EventBridge event from S3 among them (``Ignored``: this stack takes S3's
  own notifications; an EventBridge event names its object in another shape, ``detail.object``);
- anything else is malformed (``MalformedMessageError``): it cannot succeed however often it is
  delivered, so SubmitFunction sets it aside in the dead-letter queue at once (:class:`DeadLetters`).

S3's notification record: https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
(``versionId`` of a ``DeleteMarkerCreated`` record is the marker's, not the deleted object's); S3's
EventBridge events: https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cutout.errors import MalformedMessageError
from cutout.keys import decode_event_key
from cutout.observability import logger, metrics
from cutout.state import BackfillRequest, ReprocessRequest, SourceObject
from cutout.urls import redact

EXCERPT_CHARS = 500  # of a malformed body, in its log line and its dead letter's attribute
DELETE_MARKER_CREATED = "ObjectRemoved:DeleteMarkerCreated"


@dataclass(frozen=True)
class Created:
    """An object version was created: an upload to admit (or refuse)."""

    source: SourceObject


@dataclass(frozen=True)
class Removed:
    """An object version was deleted (``source.version_id``), or the key as a whole: a delete marker was
    created, or an unversioned bucket's object deleted (``source.version_id`` None)."""

    source: SourceObject


@dataclass(frozen=True)
class Ignored:
    """A message (``what`` = "message") or a record ("record") that this code does not act on, and why."""

    what: str
    reason: str


@dataclass(frozen=True)
class S3TestEvent:
    """S3's ``s3:TestEvent``: the bucket's notification configuration reaches this queue."""

    bucket: str


Item = Created | Removed | Ignored | S3TestEvent | ReprocessRequest | BackfillRequest


def read_message(body: str) -> list[Item]:
    """What one SQS message body asks for; MalformedMessageError when it is not a JSON object, or claims
    to be a notification or a reprocess request that this code cannot read."""
    try:
        message = json.loads(body)
    except ValueError:
        raise MalformedMessageError("not JSON") from None
    if not isinstance(message, dict):
        raise MalformedMessageError(f"JSON {type(message).__name__}, not an object")
    if "Records" in message:
        records = message["Records"]
        if not isinstance(records, list) or not records:
            raise MalformedMessageError("an S3 notification whose Records is not a non-empty list")
        return [_record(record) for record in records]
    if ReprocessRequest.is_one(message):
        return [ReprocessRequest.from_message(message)]
    if BackfillRequest.is_one(message):
        return [BackfillRequest.from_message(message)]
    if message.get("Event") == "s3:TestEvent":
        return [S3TestEvent(str(message.get("Bucket", "")))]
    if message.get("source") == "aws.s3" and "detail-type" in message:
        return [
            Ignored(
                "message",
                f"an EventBridge event from S3 ({message['detail-type']!r}): this stack reads S3's own "
                "notifications to the ingest queue, not EventBridge events",
            )
        ]
    fields = ", ".join(sorted(str(name) for name in message)[:10])
    return [
        Ignored(
            "message", f"neither an S3 notification nor a reprocess or backfill request (fields: {fields})"
        )
    ]


def _record(record: Any) -> Item:
    if not isinstance(record, dict):
        raise MalformedMessageError("an S3 notification record that is not an object")
    event = str(record.get("eventName", ""))
    if not event.startswith(("ObjectCreated:", "ObjectRemoved:")):
        return Ignored(
            "record", f"S3 event {event or '(no eventName)'!r}: only ObjectCreated and ObjectRemoved are read"
        )
    try:
        bucket, obj = record["s3"]["bucket"]["name"], record["s3"]["object"]
        raw_key = obj["key"]
    except (KeyError, TypeError):
        raise MalformedMessageError(
            f"an S3 {event} record without s3.bucket.name and s3.object.key"
        ) from None
    if not (isinstance(bucket, str) and bucket and isinstance(raw_key, str) and raw_key):
        raise MalformedMessageError(f"an S3 {event} record whose bucket or key is not a non-empty string")
    if event == DELETE_MARKER_CREATED:  # its versionId is the marker's: the key as a whole is deleted
        return Removed(
            SourceObject(bucket, decode_event_key(raw_key), sequencer=obj.get("sequencer") or None)
        )
    source = SourceObject(
        bucket=bucket,
        key=decode_event_key(raw_key),
        version_id=obj.get("versionId") or None,
        etag=obj.get("eTag") or None,
        sequencer=obj.get("sequencer") or None,
    )
    return Created(source) if event.startswith("ObjectCreated:") else Removed(source)


def excerpt(body: str) -> str:
    """The start of a message body, fit for a log line: at most EXCERPT_CHARS, URL queries dropped."""
    cut = body[:EXCERPT_CHARS]
    return redact(cut) + ("…" if len(body) > EXCERPT_CHARS else "")


class DeadLetters:
    """Sets a malformed message aside in the ingest dead-letter queue at once, instead of letting SQS
    deliver it up to maxReceiveCount times first: the same body (so tools/redrive.py can bring it back
    after a fix), with the original message id and the reason as message attributes. The queue's alarm
    (DeadLetterQueueAlarm) then fires."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def set_aside(self, message_id: str, body: str, error: MalformedMessageError) -> str:
        """Log (ERROR, with an excerpt), count ``MessagesSetAside`` and send; a failed send raises, so
        the message is delivered again."""
        reason = f"malformed message: {error}"
        logger.error(
            "malformed message: set aside in the dead-letter queue",
            extra={"reason": reason, "excerpt": excerpt(body), "body_chars": len(body)},
        )
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                "cutout-reason": {"DataType": "String", "StringValue": reason[:EXCERPT_CHARS]},
                "cutout-message-id": {"DataType": "String", "StringValue": message_id},
            },
        )
        metrics.add_metric(name="MessagesSetAside", unit=MetricUnit.Count, value=1)
        return "set aside"
