"""Reading one SQS message body as an S3 notification: the created objects it names, with their keys
decoded and their exact version; everything else in it (the test event, deletions) names nothing."""

import json

import pytest

from cutout.errors import MalformedMessageError
from cutout.intake import s3_records
from cutout.state import SourceObject
from tests.support.events import load_event

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


def test_the_sample_notification_names_the_uploaded_version_with_its_key_decoded():
    assert s3_records(json.dumps(sample_body())) == [
        SourceObject(
            bucket=BUCKET,
            key="uploads/my holiday photo(1).jpg",
            version_id="3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
            etag="9b2cf535f27731c974343645a3985328",
            sequencer="0055AED6DCD90281E5",
        )
    ]


def test_the_s3_test_event_names_no_object():
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-24T08:00:00.000Z",
        "Bucket": BUCKET,
        "RequestId": "C3D13FE58DE4C810",
        "HostId": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
    }
    assert s3_records(json.dumps(test_event)) == []


@pytest.mark.parametrize(
    "event_name", ["ObjectRemoved:Delete", "ObjectRestore:Completed", "LifecycleExpiration:Delete"]
)
def test_records_of_other_events_are_skipped(event_name):
    message = body(
        record(event_name, "uploads/old.jpg"), record("ObjectCreated:Put", "uploads/new.jpg", eTag="e2")
    )
    assert [source.key for source in s3_records(message)] == ["uploads/new.jpg"]


def test_every_way_of_creating_an_object_counts():
    message = body(
        record("ObjectCreated:Put", "uploads/a.jpg"),
        record("ObjectCreated:CompleteMultipartUpload", "uploads/b.jpg"),
        record("ObjectCreated:Copy", "uploads/c.jpg"),
    )
    assert [source.key for source in s3_records(message)] == [
        "uploads/a.jpg",
        "uploads/b.jpg",
        "uploads/c.jpg",
    ]


def test_a_record_without_an_event_name_is_skipped():
    created = record("ObjectCreated:Put", "uploads/a.jpg")
    del created["eventName"]
    assert s3_records(body(created)) == []


def test_an_unversioned_objects_record_reads_without_a_version():
    """An unversioned bucket's records carry no versionId (or an empty one): the revision is the ETag."""
    absent = record("ObjectCreated:Put", "uploads/a.jpg", eTag="e1", sequencer="0A")
    empty = record("ObjectCreated:Put", "uploads/b.jpg", eTag="e2", sequencer="0B", versionId="")
    assert s3_records(body(absent, empty)) == [
        SourceObject(BUCKET, "uploads/a.jpg", version_id=None, etag="e1", sequencer="0A"),
        SourceObject(BUCKET, "uploads/b.jpg", version_id=None, etag="e2", sequencer="0B"),
    ]


def test_empty_etag_and_sequencer_read_as_unknown():
    [source] = s3_records(body(record("ObjectCreated:Put", "uploads/a.jpg", eTag="", sequencer="")))
    assert (source.etag, source.sequencer) == (None, None)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("uploads/my+holiday+photo%281%29.jpg", "uploads/my holiday photo(1).jpg"),
        ("uploads/caf%C3%A9+%2B+cr%C3%A8me.png", "uploads/café + crème.png"),
    ],
)
def test_keys_are_url_decoded(raw, key):
    [source] = s3_records(body(record("ObjectCreated:Put", raw)))
    assert source.key == key


@pytest.mark.parametrize("message", ["{}", '{"Records": null}', '{"Records": []}'])
def test_a_notification_without_records_names_no_object(message):
    assert s3_records(message) == []


@pytest.mark.parametrize("message", ["", "not json", '{"Records": [', "<xml/>"])
def test_a_body_that_is_not_json_is_malformed(message):
    with pytest.raises(MalformedMessageError) as raised:
        s3_records(message)
    assert str(raised.value) == "SQS message is not JSON: not an S3 notification"
