"""Every message and record has a visible fate, on the whole local stack (RemoveOutputsOnDelete on): a
malformed message is in the dead-letter queue after one delivery, logged at ERROR with its message id; an
EventBridge event from S3 is logged at WARNING with its message id and counted; an upload with another
suffix gets a failure record naming the accepted types; deleting an upload removes its cutout, and
deleting an older version leaves the newer one's."""

import json

import pytest

from cutout_cli.queues import redrive
from tests.support.events import load_event
from tests.support.images import photo
from tests.support.pipeline import pipeline_stack

SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


@pytest.fixture(scope="module")
def pipeline():
    with pipeline_stack(parameters={"RemoveOutputsOnDelete": "true"}) as pipeline:
        yield pipeline


def send(pipeline, body: str) -> list:
    """Send ``body`` to the ingest queue; the SubmitFunction invocations that got it."""
    pipeline.stack.client("sqs").send_message(
        QueueUrl=pipeline.stack.outputs["IngestQueueUrl"], MessageBody=body
    )
    pipeline.stack.aws.settle()
    return [
        i
        for i in pipeline.stack.aws.invocations
        if i.function == "SubmitFunction" and any(r["body"] == body for r in i.event["Records"])
    ]


def log_lines(invocation) -> list[dict]:
    return [json.loads(line) for line in invocation.logs.splitlines() if line.startswith("{")]


def metrics_of(invocation) -> set[str]:
    return {
        metric["Name"]
        for line in log_lines(invocation)
        if "_aws" in line
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }


def dead_letters(pipeline) -> list[dict]:
    sqs = pipeline.stack.client("sqs")
    url = pipeline.stack.outputs["IngestDeadLetterQueueUrl"]
    return sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])


def test_a_malformed_message_is_in_the_dlq_after_one_delivery_and_logged_at_error(pipeline):
    body = '{"Records": [{"eventName": "ObjectCreated:Put", "s3": "truncated'

    [invocation] = send(pipeline, body)  # delivered once, not maxReceiveCount (5) times

    [message_id] = [r["messageId"] for r in invocation.event["Records"] if r["body"] == body]
    [error] = [line for line in log_lines(invocation) if line.get("level") == "ERROR"]
    assert (error["message"], error["message_id"], error["excerpt"]) == (
        "malformed message: set aside in the dead-letter queue",
        message_id,
        body,
    )
    assert "MessagesSetAside" in metrics_of(invocation)
    [dead] = [m for m in dead_letters(pipeline) if m["Body"] == body]
    assert dead["MessageAttributes"]["cutout-message-id"]["StringValue"] == message_id
    assert invocation.result == {"batchItemFailures": []}


def dead_letter_count(pipeline) -> int:
    """Messages in the dead-letter queue, visible or not."""
    sqs = pipeline.stack.client("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    url = pipeline.stack.outputs["IngestDeadLetterQueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def test_redrive_moves_a_malformed_message_once_and_ends(pipeline):
    """Set aside again at once when redriven, it is left where it is by the same run: the run ends."""
    send(pipeline, "not json at all")
    before = dead_letter_count(pipeline)
    outputs = pipeline.stack.outputs
    sqs = pipeline.stack.client("sqs")

    moved = redrive(sqs, outputs["IngestDeadLetterQueueUrl"], outputs["IngestQueueUrl"])
    pipeline.stack.aws.settle()

    assert moved == before
    assert dead_letter_count(pipeline) == before


def test_an_eventbridge_event_from_s3_is_logged_at_warning_with_its_message_id_and_counted(pipeline):
    body = json.dumps(load_event("eventbridge_s3_object_created.json"))

    [invocation] = send(pipeline, body)

    [message_id] = [r["messageId"] for r in invocation.event["Records"] if r["body"] == body]
    [warning] = [line for line in log_lines(invocation) if line.get("level") == "WARNING"]
    assert (warning["message"], warning["message_id"]) == ("message ignored", message_id)
    assert "EventBridge" in warning["reason"]
    assert "MessagesIgnored" in metrics_of(invocation)
    assert body not in [m["Body"] for m in dead_letters(pipeline)]


def test_an_upload_with_another_suffix_gets_a_failure_record_naming_the_accepted_types(pipeline):
    outcome = pipeline.run("uploads/drawing.svg", SVG)
    assert (outcome.execution, outcome.cutout) == (None, None)
    assert outcome.failure["error"] == "UnsupportedInputError"
    assert outcome.failure["reason"] == (
        "unsupported type: suffix .svg; accepted are files named .jpg, .jpeg, .png, .webp, .heic, .heif, "
        ".avif, .tif, .tiff, .bmp, .gif (AcceptedSuffixes) whose content is JPEG or PNG, or the format "
        "their suffix names"
    )


def test_deleting_an_upload_removes_its_cutout(pipeline):
    key = "uploads/deleted.jpg"
    assert pipeline.run(key, photo(64, 48)).cutout is not None

    pipeline.s3.delete_object(Bucket=pipeline.input_bucket, Key=key)  # a delete marker
    pipeline.stack.aws.settle()

    assert pipeline.output_key(key) not in pipeline.output_keys()
    [removal] = [
        i
        for i in pipeline.stack.aws.invocations
        if i.function == "SubmitFunction" and "ObjectRemoved:DeleteMarkerCreated" in json.dumps(i.event)
    ]
    assert "OutputsRemoved" in metrics_of(removal)


def test_deleting_an_older_version_leaves_the_newer_versions_cutout(pipeline):
    key = "uploads/versions.jpg"
    older = pipeline.stack.upload(key, photo(64, 48))
    assert pipeline.outcome(key, older).cutout is not None
    newer = pipeline.stack.upload(key, photo(80, 60))
    assert pipeline.outcome(key, newer).cutout.size == (80, 60)

    pipeline.s3.delete_object(Bucket=pipeline.input_bucket, Key=key, VersionId=older["VersionId"])
    pipeline.stack.aws.settle()

    head = pipeline.s3.head_object(Bucket=pipeline.output_bucket, Key=pipeline.output_key(key))
    assert head["Metadata"]["source-etag"] == newer["ETag"].strip('"')
    removals = [
        i
        for i in pipeline.stack.aws.invocations
        if i.function == "SubmitFunction"
        and "ObjectRemoved" in (event := json.dumps(i.event))
        and "versions.jpg" in event
    ]
    assert removals
    assert all(i.result == {"batchItemFailures": []} for i in removals)
    assert not any("OutputsRemoved" in metrics_of(i) for i in removals)
