import itertools
import json
import time

import pytest

from cutout.keys import execution_name
from cutout.state import SourceObject
from tests.support.events import load_event
from tests.support.images import photo
from tests.support.world import INPUT_BUCKET

SAMPLE_KEY = "uploads/my holiday photo(1).jpg"


def execution_input(world, execution) -> dict:
    return json.loads(world.sfn.describe_execution(executionArn=execution["executionArn"])["input"])


def test_sample_notification_admits_the_upload_with_one_execution(world):
    put = world.upload(SAMPLE_KEY, photo(640, 480))
    before = time.time()

    response = world.invoke(world.load("submit"), world.notification(SAMPLE_KEY, put))

    assert response == {"batchItemFailures": []}
    [execution] = world.executions()
    sequencer = "0055AED6DCD90281E5"  # the sample event's
    source = SourceObject(INPUT_BUCKET, SAMPLE_KEY, put["VersionId"], put["ETag"].strip('"'), sequencer)
    assert execution["name"] == execution_name(source)
    state = execution_input(world, execution)
    assert state["source"] == source.to_dict()
    assert (state["task_id"], state["submitted_at"]) == (None, None)
    assert before <= state["slot"]["at"] <= time.time()
    assert state["slot"]["wait_seconds"] == 0
    assert "http" not in json.dumps(state)  # ids only: no presigned URL in the execution input
    assert world.accepted() == 0  # the provider is called by the execution (SendFunction), not here


def test_slots_are_spaced_by_the_allowed_rate(world):
    app = world.load("submit", SUBMISSIONS_PER_MINUTE="60")
    for index in range(3):
        key = f"uploads/burst-{index}.jpg"
        world.invoke(app, world.notification(key, world.upload(key, photo())))
    slots = sorted(execution_input(world, e)["slot"]["at"] for e in world.executions())
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(gap >= 1.0 for gap in gaps), gaps


def test_sample_batch_skips_what_is_not_ours_and_admits_the_rest(world):
    unicode_key = "uploads/café 写真 a+b.png"
    puts = {
        SAMPLE_KEY: world.upload(SAMPLE_KEY, photo(64, 48)),
        unicode_key: world.upload(unicode_key, photo(fmt="PNG")),
    }

    response = world.invoke(world.load("submit"), world.aligned(load_event("sqs_batch.json"), puts))

    assert response == {"batchItemFailures": []}
    expected = {
        execution_name(SourceObject(INPUT_BUCKET, key, put["VersionId"], put["ETag"].strip('"')))
        for key, put in puts.items()
    }
    assert {e["name"] for e in world.executions()} == expected
    assert world.output_keys() == []  # folder marker and notes.txt were skipped, not failed


def test_a_redelivered_notification_starts_no_second_execution(world):
    put = world.upload(SAMPLE_KEY, photo())
    app = world.load("submit")
    event = world.notification(SAMPLE_KEY, put)
    world.invoke(app, event)
    world.invoke(app, event)
    assert len(world.executions()) == 1


def test_a_new_upload_of_the_same_key_is_processed_again(world):
    app = world.load("submit")
    world.invoke(app, world.notification(SAMPLE_KEY, world.upload(SAMPLE_KEY, photo())))
    world.invoke(app, world.notification(SAMPLE_KEY, world.upload(SAMPLE_KEY, photo(70, 50))))
    assert len(world.executions()) == 2


@pytest.mark.parametrize(
    ("key", "body", "overrides", "reason"),
    [
        ("uploads/notes.jpg", b"this is text, named like a photo", {}, "not an image"),
        ("uploads/anim.png", photo(8, 8, "GIF"), {}, "GIF is not supported"),
        ("uploads/empty.jpg", b"", {}, "empty file"),
        ("uploads/huge.jpg", photo(1200, 1000), {"MAX_INPUT_MEGAPIXELS": "1"}, "over MAX_INPUT_MEGAPIXELS"),
        ("uploads/heavy.jpg", photo(640, 480), {"MAX_INPUT_BYTES": "1024"}, "over MAX_INPUT_BYTES"),
        ("uploads/cut.jpg", photo(640, 480)[:100], {}, "truncated or corrupt"),
    ],
)
def test_bad_input_gets_a_failure_record_and_no_execution(world, key, body, overrides, reason):
    put = world.upload(key, body)

    response = world.invoke(world.load("submit", **overrides), world.notification(key, put))

    assert response == {"batchItemFailures": []}  # handled for good: no redelivery
    record = world.failure_record(key)
    assert reason in record["reason"]
    assert record["error"] == "UnsupportedInputError"
    assert record["source"]["key"] == key
    assert world.executions() == []


def test_png_named_jpg_is_accepted_because_content_decides(world):
    put = world.upload("uploads/really-a-png.jpg", photo(fmt="PNG"))
    world.invoke(world.load("submit"), world.notification("uploads/really-a-png.jpg", put))
    assert len(world.executions()) == 1


def test_object_deleted_before_processing_gets_a_failure_record(world):
    key = "uploads/gone.jpg"
    put = world.upload(key, photo())
    world.s3.delete_object(Bucket=INPUT_BUCKET, Key=key, VersionId=put["VersionId"])
    world.invoke(world.load("submit"), world.notification(key, put))
    assert "gone" in world.failure_record(key)["reason"]


def test_s3_unreachable_is_a_batch_item_failure_for_redelivery(world, caplog):
    put = world.upload(SAMPLE_KEY, photo())
    event = world.notification(SAMPLE_KEY, put)
    app = world.load("submit", AWS_ENDPOINT_URL_S3="http://127.0.0.1:9")  # nothing listens there

    response = world.invoke(app, event)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert world.output_keys() == []
    assert world.executions() == []
    [warning] = [r for r in caplog.records if r.getMessage() == "not processed: SQS will deliver it again"]
    assert (warning.levelname, warning.error) == ("WARNING", "SourceUnavailableError")
    assert warning.reason == "S3 head_object failed: EndpointConnectionError"
