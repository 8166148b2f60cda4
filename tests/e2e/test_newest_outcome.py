"""One outcome per key, the newest upload's (issue 11), on the local stack: three versions of one key
(image, text, image and others), their notifications delivered in every order, or several at once; when
every execution has ended the output holds exactly one outcome for the key, the newest version's. And
three quick overwrites of one unversioned key: each execution processes the bytes it was named for, or
ends superseded."""

import itertools
import json
from urllib.parse import quote_plus

import pytest

from tests.support.events import load_event
from tests.support.images import photo
from tests.support.pipeline import Pipeline

TEXT = b"meeting notes, definitely not an image\n"


@pytest.fixture(scope="module")
def versioned(pipeline: Pipeline) -> Pipeline:
    """The module's stack with versioning on its input bucket (as the template's bucket has on AWS)."""
    pipeline.s3.put_bucket_versioning(
        Bucket=pipeline.input_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return pipeline


def silently(pipeline: Pipeline, key: str, bodies: list[bytes]) -> list[dict]:
    """Upload ``bodies`` to ``key`` in order without their notifications (the bucket's notification is
    set aside meanwhile), so that a test can deliver them in an order of its choosing; the records S3
    would have sent (version id, ETag, sequencer in upload order)."""
    s3, bucket = pipeline.s3, pipeline.input_bucket
    saved = s3.get_bucket_notification_configuration(Bucket=bucket)
    saved.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        puts = [s3.put_object(Bucket=bucket, Key=key, Body=body) for body in bodies]
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=saved)
    template = json.loads(load_event("sqs_s3_object_created.json")["Records"][0]["body"])
    records = []
    for n, put in enumerate(puts):
        record = json.loads(json.dumps(template["Records"][0]))
        record["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
        record["s3"]["object"].update(
            key=quote_plus(key, safe="/"),
            eTag=put["ETag"].strip('"'),
            versionId=put["VersionId"],
            sequencer=f"00{n + 1:014X}",  # S3's order of the three uploads
            size=1,
        )
        records.append(record)
    return records


def deliver(pipeline: Pipeline, records: list[dict]) -> None:
    sqs = pipeline.stack.client("sqs")
    for record in records:
        sqs.send_message(
            QueueUrl=pipeline.stack.outputs["IngestQueueUrl"], MessageBody=json.dumps({"Records": [record]})
        )


def outcomes_of(pipeline: Pipeline, key: str) -> dict[str, dict]:
    """The key's outcomes in the output bucket: {"cutout": its metadata} and/or {"failure": its record}."""
    found = {}
    if pipeline.output_key(key) in pipeline.output_keys():
        head = pipeline.s3.head_object(Bucket=pipeline.output_bucket, Key=pipeline.output_key(key))
        found["cutout"] = head["Metadata"]
    if pipeline.failure_key(key) in pipeline.output_keys():
        body = pipeline.s3.get_object(Bucket=pipeline.output_bucket, Key=pipeline.failure_key(key))["Body"]
        found["failure"] = json.loads(body.read())
    return found


def assert_newest_stands(pipeline: Pipeline, key: str, newest: dict, kind: str) -> None:
    pipeline.stack.aws.wait_for_executions(timeout=120)
    found = outcomes_of(pipeline, key)
    assert list(found) == [kind], found
    version = newest["s3"]["object"]["versionId"]
    named = found[kind]["source-version"] if kind == "cutout" else found[kind]["source"]["version_id"]
    assert named == version


IMAGE_TEXT_IMAGE = list(itertools.permutations(range(3)))


@pytest.mark.parametrize("order", IMAGE_TEXT_IMAGE, ids=["".join(map(str, o)) for o in IMAGE_TEXT_IMAGE])
def test_image_text_image_in_any_order_ends_with_the_newest_images_cutout(versioned, order):
    key = f"uploads/newest/iti-{''.join(map(str, order))}.jpg"
    records = silently(versioned, key, [photo(64, 48), TEXT, photo(80, 60)])
    deliver(versioned, [records[i] for i in order])
    assert_newest_stands(versioned, key, records[2], "cutout")


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)], ids=["012", "210", "120"])
def test_image_image_text_in_any_order_ends_with_the_newest_texts_failure_record(versioned, order):
    key = f"uploads/newest/iit-{''.join(map(str, order))}.jpg"
    records = silently(versioned, key, [photo(64, 48), photo(80, 60), TEXT])
    deliver(versioned, [records[i] for i in order])
    assert_newest_stands(versioned, key, records[2], "failure")


def test_notifications_delivered_together_still_leave_one_outcome(versioned):
    """All three in one SQS message: admitted side by side, their executions racing to the outputs."""
    key = "uploads/newest/together.jpg"
    records = silently(versioned, key, [TEXT, photo(64, 48), photo(80, 60)])
    sqs = versioned.stack.client("sqs")
    sqs.send_message(
        QueueUrl=versioned.stack.outputs["IngestQueueUrl"],
        MessageBody=json.dumps({"Records": list(reversed(records))}),
    )
    assert_newest_stands(versioned, key, records[2], "cutout")
