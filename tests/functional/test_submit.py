import json

import boto3
import pytest

from cutout.keys import SourceObject, execution_name
from tests.events import load_event
from tests.functional.conftest import INPUT_BUCKET
from tests.images import photo

SAMPLE_KEY = "uploads/my holiday photo(1).jpg"


def test_sample_notification_is_submitted_with_one_execution(world):
    put = world.upload(SAMPLE_KEY, photo(640, 480))
    response = world.invoke(world.load("submit"), world.notification(SAMPLE_KEY, put))

    assert response == {"batchItemFailures": []}
    [execution] = world.executions()
    source = SourceObject(INPUT_BUCKET, SAMPLE_KEY, put["VersionId"], put["ETag"].strip('"'))
    assert execution["name"] == execution_name(source)
    state = json.loads(world.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert state["source"] == source.to_dict()
    assert set(state) == {"source", "task_id", "submitted_at", "poll"}
    assert "http" not in json.dumps(state)  # ids only: no presigned URL in the execution input
    assert world.accepted() == 1


def test_sample_batch_skips_what_is_not_ours_and_submits_the_rest(world):
    unicode_key = "uploads/café 写真 a+b.png"
    puts = {
        SAMPLE_KEY: world.upload(SAMPLE_KEY, photo(64, 48)),
        unicode_key: world.upload(unicode_key, photo(fmt="PNG")),
    }
    app = world.load("submit")

    response = world.invoke(app, world.aligned(load_event("sqs_batch.json"), puts))

    assert response == {"batchItemFailures": []}
    expected = {
        execution_name(SourceObject(INPUT_BUCKET, k, p["VersionId"], p["ETag"].strip('"')))
        for k, p in puts.items()
    }
    assert {e["name"] for e in world.executions()} == expected
    assert world.accepted() == 2
    assert world.output_keys() == []  # folder marker and notes.txt were skipped, not failed


def test_a_redelivered_notification_starts_no_second_execution(world):
    put = world.upload(SAMPLE_KEY, photo())
    app = world.load("submit")
    event = world.notification(SAMPLE_KEY, put)
    world.invoke(app, event)
    world.invoke(app, event)
    assert len(world.executions()) == 1


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
def test_bad_input_gets_a_failure_record_and_never_reaches_the_provider(world, key, body, overrides, reason):
    put = world.upload(key, body)
    app = world.load("submit", **overrides)

    response = world.invoke(app, world.notification(key, put))

    assert response == {"batchItemFailures": []}  # handled for good: no redelivery
    record = world.failure_record(key)
    assert reason in record["reason"]
    assert record["error"] == "UnsupportedInputError"
    assert record["source"]["key"] == key
    assert world.accepted() == 0
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


def test_provider_unreachable_is_a_batch_item_failure_for_redelivery(world):
    put = world.upload(SAMPLE_KEY, photo())
    event = world.notification(SAMPLE_KEY, put)
    app = world.load("submit", PROVIDER_BASE_URL="http://127.0.0.1:9")

    response = world.invoke(app, event)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert world.output_keys() == []
    assert world.executions() == []


def test_provider_503_then_redelivery_succeeds(world):
    put = world.upload(SAMPLE_KEY, photo())
    event = world.notification(SAMPLE_KEY, put)
    app = world.load("submit")
    world.provider.faults.update(submit_5xx_next=1)

    first = world.invoke(app, event)
    second = world.invoke(app, event)

    assert first["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert second == {"batchItemFailures": []}
    assert len(world.executions()) == 1


def test_wrong_api_key_gets_a_failure_record_without_the_key(world):
    boto3.client("secretsmanager").put_secret_value(
        SecretId=world.env["API_KEY_SECRET_ARN"], SecretString="sk_wrong"
    )
    put = world.upload(SAMPLE_KEY, photo())
    world.invoke(world.load("submit"), world.notification(SAMPLE_KEY, put))
    record = world.failure_record(SAMPLE_KEY)
    assert record["error"] == "ProviderAuthError"
    assert "sk_wrong" not in json.dumps(record)
