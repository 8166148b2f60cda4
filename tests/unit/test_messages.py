"""Reading one SQS message body (cutout.messages): every shape has a reading, so every message and record
has a fate. S3 notification records of created objects and deletions, with their keys decoded and their
exact version; a reprocess request; S3's test event; anything else named and ignored (an EventBridge
event among them); what cannot be read at all is malformed, and a malformed message is set aside in the
dead-letter queue with an excerpt of it."""

import json
import logging

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from cutout.errors import MalformedMessageError
from cutout.messages import (
    EXCERPT_CHARS,
    Created,
    DeadLetters,
    Ignored,
    Removed,
    S3TestEvent,
    excerpt,
    read_message,
)
from cutout.state import ReprocessRequest, SourceObject
from tests.support.events import load_event
from tests.support.logs import function_log_lines

BUCKET = "cutout-input-123456789012-3f2a9c1e"


def sample_body() -> dict:
    return json.loads(load_event("sqs_s3_object_created.json")["Records"][0]["body"])


def record(event_name: str, key: str, **obj: str) -> dict:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event_name,
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1024, **obj}},
    }


def body(*records: dict) -> str:
    return json.dumps({"Records": list(records)})


def created_keys(message: str) -> list[str]:
    return [item.source.key for item in read_message(message) if isinstance(item, Created)]


# --- created objects ----------------------------------------------------------------------------------
def test_the_sample_notification_names_the_uploaded_version_with_its_key_decoded():
    assert read_message(json.dumps(sample_body())) == [
        Created(
            SourceObject(
                bucket=BUCKET,
                key="uploads/my holiday photo(1).jpg",
                version_id="3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                etag="9b2cf535f27731c974343645a3985328",
                sequencer="0055AED6DCD90281E5",
            )
        )
    ]


def test_every_way_of_creating_an_object_counts():
    message = body(
        record("ObjectCreated:Put", "uploads/a.jpg"),
        record("ObjectCreated:CompleteMultipartUpload", "uploads/b.jpg"),
        record("ObjectCreated:Copy", "uploads/c.jpg"),
    )
    assert created_keys(message) == ["uploads/a.jpg", "uploads/b.jpg", "uploads/c.jpg"]


def test_an_unversioned_objects_record_reads_without_a_version():
    """An unversioned bucket's records carry no versionId (or an empty one): the revision is the ETag."""
    absent = record("ObjectCreated:Put", "uploads/a.jpg", eTag="e1", sequencer="0A")
    empty = record("ObjectCreated:Put", "uploads/b.jpg", eTag="e2", sequencer="0B", versionId="")
    assert read_message(body(absent, empty)) == [
        Created(SourceObject(BUCKET, "uploads/a.jpg", version_id=None, etag="e1", sequencer="0A")),
        Created(SourceObject(BUCKET, "uploads/b.jpg", version_id=None, etag="e2", sequencer="0B")),
    ]


def test_empty_etag_and_sequencer_read_as_unknown():
    [item] = read_message(body(record("ObjectCreated:Put", "uploads/a.jpg", eTag="", sequencer="")))
    assert (item.source.etag, item.source.sequencer) == (None, None)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("uploads/my+holiday+photo%281%29.jpg", "uploads/my holiday photo(1).jpg"),
        ("uploads/caf%C3%A9+%2B+cr%C3%A8me.png", "uploads/café + crème.png"),
    ],
)
def test_keys_are_url_decoded(raw, key):
    assert created_keys(body(record("ObjectCreated:Put", raw))) == [key]


# --- deletions ----------------------------------------------------------------------------------------
def test_a_deleted_version_names_that_version_and_a_delete_marker_the_key_as_a_whole():
    """A DeleteMarkerCreated record's versionId is the marker's own: the removal names no version."""
    assert read_message(json.dumps(load_event("s3_object_removed.json"))) == [
        Removed(
            SourceObject(
                BUCKET,
                "uploads/my holiday photo(1).jpg",
                version_id="3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                sequencer="0055AED6DD2A6C37F1",
            )
        ),
        Removed(SourceObject(BUCKET, "uploads/cat.png", sequencer="0055AED6DD3B7D48A2")),
    ]


def test_an_unversioned_buckets_delete_names_the_key_as_a_whole():
    [item] = read_message(body(record("ObjectRemoved:Delete", "uploads/a.jpg", sequencer="0C")))
    assert item == Removed(SourceObject(BUCKET, "uploads/a.jpg", sequencer="0C"))


# --- what is not acted on -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "event_name", ["ObjectRestore:Completed", "LifecycleExpiration:Delete", "ObjectTagging:Put"]
)
def test_records_of_other_events_are_ignored_by_name(event_name):
    message = body(record(event_name, "uploads/old.jpg"), record("ObjectCreated:Put", "uploads/new.jpg"))
    [ignored, created] = read_message(message)
    assert ignored == Ignored(
        "record", f"S3 event {event_name!r}: only ObjectCreated and ObjectRemoved are read"
    )
    assert created.source.key == "uploads/new.jpg"


def test_a_record_without_an_event_name_is_ignored_saying_so():
    created = record("ObjectCreated:Put", "uploads/a.jpg")
    del created["eventName"]
    [item] = read_message(body(created))
    assert item == Ignored(
        "record", "S3 event '(no eventName)': only ObjectCreated and ObjectRemoved are read"
    )


def test_the_s3_test_event_is_read_as_such():
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-24T08:00:00.000Z",
        "Bucket": BUCKET,
        "RequestId": "C3D13FE58DE4C810",
        "HostId": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
    }
    assert read_message(json.dumps(test_event)) == [S3TestEvent(BUCKET)]


def test_an_eventbridge_event_from_s3_is_ignored_saying_so():
    [item] = read_message(json.dumps(load_event("eventbridge_s3_object_created.json")))
    assert item == Ignored(
        "message",
        "an EventBridge event from S3 ('Object Created'): this stack reads S3's own notifications to the "
        "ingest queue, not EventBridge events",
    )


@pytest.mark.parametrize(
    ("message", "fields"),
    [("{}", ""), ('{"Type": "Notification", "Message": "{}"}', "Message, Type")],
)
def test_a_json_object_of_another_shape_is_ignored_naming_its_fields(message, fields):
    assert read_message(message) == [
        Ignored(
            "message", f"neither an S3 notification nor a reprocess or backfill request (fields: {fields})"
        )
    ]


def test_a_reprocess_request_is_read():
    request = ReprocessRequest(SourceObject(BUCKET, "uploads/a.jpg", version_id="v1"), attempt=2)
    assert read_message(request.to_message()) == [request]


# --- malformed ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("not json", "not JSON"),
        ('{"Records": [', "not JSON"),
        ("<xml/>", "not JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ('"text"', "JSON str, not an object"),
        ("null", "JSON NoneType, not an object"),
        ('{"Records": null}', "an S3 notification whose Records is not a non-empty list"),
        ('{"Records": []}', "an S3 notification whose Records is not a non-empty list"),
        ('{"Records": "x"}', "an S3 notification whose Records is not a non-empty list"),
        ('{"Records": [7]}', "an S3 notification record that is not an object"),
        (
            '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]}',
            "an S3 ObjectCreated:Put record without s3.bucket.name and s3.object.key",
        ),
        (
            '{"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "b"}, '
            '"object": {"key": ""}}}]}',
            "an S3 ObjectRemoved:Delete record whose bucket or key is not a non-empty string",
        ),
    ],
)
def test_what_cannot_be_read_is_malformed_saying_why(message, problem):
    with pytest.raises(MalformedMessageError) as raised:
        read_message(message)
    assert str(raised.value) == problem


def test_a_reprocess_request_this_code_cannot_read_is_malformed():
    request = json.loads(ReprocessRequest(SourceObject(BUCKET, "uploads/a.jpg"), 1).to_message())
    with pytest.raises(MalformedMessageError, match="reprocess request not understood"):
        read_message(json.dumps({**request, "schema": 2}))


def test_one_unreadable_record_makes_the_whole_message_malformed():
    """Nothing of it is handled, so the message set aside is the whole of what S3 sent."""
    message = body(record("ObjectCreated:Put", "uploads/a.jpg"), {"eventName": "ObjectCreated:Put"})
    with pytest.raises(MalformedMessageError):
        read_message(message)


# --- the excerpt and the dead letter ------------------------------------------------------------------
def test_the_excerpt_is_capped_and_says_it_was_cut():
    assert excerpt("x" * EXCERPT_CHARS) == "x" * EXCERPT_CHARS
    assert excerpt("x" * (EXCERPT_CHARS + 1)) == "x" * EXCERPT_CHARS + "…"
    assert EXCERPT_CHARS == 500


def test_the_excerpt_drops_url_queries():
    text = "see https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Signature=abc123 please"
    assert "abc123" not in excerpt(text)
    assert "https://bucket.s3.amazonaws.com/a.jpg?" in excerpt(text)


class RecordingSQS:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send_message(self, **kwargs):
        self.sent.append(kwargs)
        return {"MessageId": "m-2"}


def test_a_malformed_message_is_sent_to_the_dead_letter_queue_as_it_came_with_the_reason(added_metrics):
    sqs = RecordingSQS()
    error = MalformedMessageError("not JSON")
    assert DeadLetters(sqs, "https://sqs/dlq").set_aside("m-1", "{not json", error) == "set aside"
    assert sqs.sent == [
        {
            "QueueUrl": "https://sqs/dlq",
            "MessageBody": "{not json",
            "MessageAttributes": {
                "cutout-reason": {"DataType": "String", "StringValue": "malformed message: not JSON"},
                "cutout-message-id": {"DataType": "String", "StringValue": "m-1"},
            },
        }
    ]
    added_metrics.assert_called_once_with(name="MessagesSetAside", unit=MetricUnit.Count, value=1)


def test_a_malformed_message_is_logged_at_error_with_an_excerpt():
    long_body = "{not json " + "y" * 2000
    with function_log_lines(logging.INFO) as lines:
        DeadLetters(RecordingSQS(), "https://sqs/dlq").set_aside("m-1", long_body, MalformedMessageError("x"))
    [line] = [json.loads(line) for line in lines]
    assert (line["level"], line["message"]) == (
        "ERROR",
        "malformed message: set aside in the dead-letter queue",
    )
    assert line["excerpt"] == long_body[:EXCERPT_CHARS] + "…"
    assert line["body_chars"] == len(long_body)


def test_a_failed_send_to_the_dead_letter_queue_propagates_and_counts_nothing(added_metrics):
    class Down:
        def send_message(self, **_):
            raise ConnectionError("unreachable")

    with pytest.raises(ConnectionError):
        DeadLetters(Down(), "https://sqs/dlq").set_aside("m-1", "x", MalformedMessageError("not JSON"))
    added_metrics.assert_not_called()
