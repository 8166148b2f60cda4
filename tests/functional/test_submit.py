import itertools
import json
import time

import pytest

from cutout.keys import execution_name
from cutout.state import SourceObject
from tests.support.events import load_event
from tests.support.images import photo
from tests.support.world import INPUT_BUCKET, OUTPUT_BUCKET

SAMPLE_KEY = "uploads/my holiday photo(1).jpg"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


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


def test_sample_batch_admits_the_photos_refuses_the_text_file_and_skips_the_folder_marker(world):
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
    # the folder marker was skipped; notes.txt, under the input prefix, is an upload of another type
    assert world.output_keys() == [world.failure_key("uploads/notes.txt")]


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
        ("uploads/anim.png", photo(8, 8, "GIF"), {}, "GIF content in a file not named .gif"),
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
    assert warning.reason == "S3 get_object failed: EndpointConnectionError"


# --- every message has a visible fate -------------------------------------------------------------------
def logged(lines: list[str], message: str) -> list[dict]:
    return [entry for entry in map(json.loads, lines) if entry["message"] == message]


def emitted_metrics(capsys) -> dict[str, float]:
    """The metrics the handler flushed (CloudWatch embedded metric format lines on stdout)."""
    found: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' in line:
            blob = json.loads(line)
            for definition in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                values = blob[definition["Name"]]
                found[definition["Name"]] = sum(values) if isinstance(values, list) else values
    return found


@pytest.mark.parametrize(
    "body", ["{not json", "[1, 2, 3]", '{"Records": [{"eventName": "ObjectCreated:Put"}]}']
)
def test_a_malformed_message_is_set_aside_in_the_dlq_at_once_and_logged_at_error(
    world, function_logs, capsys, body
):
    response = world.invoke(world.load("submit"), world.messages(body))

    assert response == {"batchItemFailures": []}  # not delivered again: it is in the DLQ already
    [dead] = world.dead_letters()
    assert dead["Body"] == body
    assert dead["MessageAttributes"]["cutout-message-id"]["StringValue"] == "message-0"
    assert dead["MessageAttributes"]["cutout-reason"]["StringValue"].startswith("malformed message: ")
    [error] = logged(function_logs, "malformed message: set aside in the dead-letter queue")
    assert (error["level"], error["message_id"], error["excerpt"]) == ("ERROR", "message-0", body)
    assert emitted_metrics(capsys) == {"MessagesSetAside": 1}
    assert (world.executions(), world.output_keys()) == ([], [])


@pytest.mark.parametrize(
    ("body", "metric"),
    [
        (json.dumps(load_event("eventbridge_s3_object_created.json")), "MessagesIgnored"),
        ('{"hello": "world"}', "MessagesIgnored"),
        (json.dumps(load_event("s3_object_removed.json")), "RecordsIgnored"),
    ],
)
def test_a_message_or_record_not_acted_on_is_logged_at_warning_with_its_message_id_and_counted(
    world, function_logs, capsys, body, metric
):
    response = world.invoke(world.load("submit"), world.messages(body))

    assert response == {"batchItemFailures": []}
    warnings = [*logged(function_logs, "message ignored"), *logged(function_logs, "record ignored")]
    assert warnings
    assert {(w["level"], w["message_id"]) for w in warnings} == {("WARNING", "message-0")}
    assert emitted_metrics(capsys) == {metric: len(warnings)}
    assert (world.dead_letters(), world.executions(), world.output_keys()) == ([], [], [])


def test_an_upload_with_another_suffix_gets_a_failure_record_naming_the_accepted_types(world):
    key = "uploads/drawing.svg"
    world.invoke(world.load("submit"), world.notification(key, world.upload(key, SVG)))
    record = world.failure_record(key)
    assert record["error"] == "UnsupportedInputError"
    assert record["reason"] == (
        "unsupported type: suffix .svg; accepted are files named .jpg, .jpeg, .png, .webp, .heic, .heif, "
        ".avif, .tif, .tiff, .bmp, .gif (AcceptedSuffixes) whose content is JPEG or PNG, or the format "
        "their suffix names"
    )
    assert world.executions() == []


def test_with_remove_outputs_on_delete_a_deleted_version_takes_its_cutout_with_it(world):
    key = "uploads/cat.jpg"
    put = world.upload(key, photo())
    cutout = world.output_key(key)
    metadata = {"source-bucket": INPUT_BUCKET, "source-key": key, "source-version": put["VersionId"]}
    world.s3.put_object(Bucket=OUTPUT_BUCKET, Key=cutout, Body=photo(fmt="PNG"), Metadata=metadata)
    world.s3.delete_object(Bucket=INPUT_BUCKET, Key=key, VersionId=put["VersionId"])
    removed = {
        "eventName": "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": INPUT_BUCKET}, "object": {"key": key, "versionId": put["VersionId"]}},
    }

    app = world.load("submit", REMOVE_OUTPUTS_ON_DELETE="true")
    response = world.invoke(app, world.messages(json.dumps({"Records": [removed]})))

    assert response == {"batchItemFailures": []}
    assert world.output_keys() == []


def backfill_message(put: dict) -> dict:
    """The sample backfill message (a Distributed Map child's SendMessage), with the ETag the object was
    really listed with."""
    event = load_event("sqs_backfill_request.json")
    body = json.loads(event["Records"][0]["body"])
    body["etag"] = put["ETag"]  # quoted, as ListObjectsV2 lists it
    event["Records"][0]["body"] = json.dumps(body)
    return event


def test_sample_backfill_message_admits_the_object_as_its_own_notification_would(world):
    put = world.upload(SAMPLE_KEY, photo(64, 48))
    app = world.load("submit")

    assert world.invoke(app, backfill_message(put)) == {"batchItemFailures": []}

    [execution] = world.executions()
    source = SourceObject(INPUT_BUCKET, SAMPLE_KEY, put["VersionId"], put["ETag"].strip('"'))
    assert execution["name"] == execution_name(source)  # the name the notification gives it
    assert execution_input(world, execution)["attempt"] == 0
    # its notification, arriving after the backfill, starts nothing more
    assert world.invoke(app, world.notification(SAMPLE_KEY, put)) == {"batchItemFailures": []}
    assert len(world.executions()) == 1


def test_sample_backfill_message_skips_an_upload_that_has_its_outcome(world, capsys):
    put = world.upload("uploads/notes.jpg", b"not an image at all")
    app = world.load("submit")
    world.invoke(app, world.notification("uploads/notes.jpg", put))  # refused: a failure record
    capsys.readouterr()
    event = backfill_message(put)
    body = json.loads(event["Records"][0]["body"])
    event["Records"][0]["body"] = json.dumps({**body, "key": "uploads/notes.jpg"})

    assert world.invoke(app, event) == {"batchItemFailures": []}

    assert emitted_metrics(capsys) == {"BackfillSkipped": 1}  # no second failure record, no execution
    assert world.executions() == []
