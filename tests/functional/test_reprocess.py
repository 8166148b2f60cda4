"""Reprocessing on emulated AWS: SubmitFunction admits a reprocess request from the queue like an upload,
WriteResult's cutout replaces the failure record, a failed reprocess's record replaces the cutout, and the
failure records are found again by the operator's entry point (cutout.reprocessing)."""

import json

from cutout.keys import execution_name
from cutout.reprocessing import failed_uploads
from cutout.state import ReprocessRequest, SourceObject
from tests.support.events import load_event
from tests.support.images import photo
from tests.support.world import INPUT_BUCKET, SETTINGS

KEY = "uploads/my holiday photo(1).jpg"


def sqs_event(body: str) -> dict:
    event = load_event("sqs_s3_object_created.json")
    event["Records"][0]["body"] = body
    return event


def failure_event(source: SourceObject, attempt: int) -> dict:
    event = load_event("record_failure_task_failed.json")
    return {**event, "source": source.to_dict(), "attempt": attempt}


def test_a_reprocess_request_on_the_queue_starts_its_own_execution_pinned_to_the_version(world):
    put = world.upload(KEY, photo())
    request = ReprocessRequest(SourceObject(INPUT_BUCKET, KEY), attempt=1)

    response = world.invoke(world.load("submit"), sqs_event(request.to_message()))

    assert response == {"batchItemFailures": []}
    [execution] = world.executions()
    source = SourceObject(INPUT_BUCKET, KEY, put["VersionId"], put["ETag"].strip('"'))
    assert execution["name"] == execution_name(source, 1)
    state = json.loads(world.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert (state["source"], state["attempt"]) == (source.to_dict(), 1)


def test_the_same_request_twice_starts_one_execution(world):
    world.upload(KEY, photo())
    app = world.load("submit")
    message = ReprocessRequest(SourceObject(INPUT_BUCKET, KEY), attempt=1).to_message()
    for _ in range(2):
        world.invoke(app, sqs_event(message))
    assert len(world.executions()) == 1


def test_a_reprocess_requests_cutout_replaces_the_failure_record(world):
    put = world.upload(KEY, photo())
    source = SourceObject(INPUT_BUCKET, KEY, etag=put["ETag"].strip('"'))
    world.invoke(world.load("record_failure"), failure_event(source, 0))
    task_id = world.finished_task(KEY, photo())
    pinned = {"bucket": INPUT_BUCKET, "key": KEY, "version_id": put["VersionId"], "etag": source.etag}

    world.invoke(world.load("write_result"), {"source": pinned, "task_id": task_id, "attempt": 1})

    assert world.output_keys() == [world.output_key(KEY)]
    assert world.output(world.output_key(KEY))["Metadata"]["attempt"] == "1"


def test_a_failed_reprocess_replaces_the_cutout_of_the_same_upload(world):
    put = world.upload(KEY, photo())
    source = SourceObject(INPUT_BUCKET, KEY, put["VersionId"], put["ETag"].strip('"'))
    task_id = world.finished_task(KEY, photo())
    world.invoke(world.load("write_result"), {"source": source.to_dict(), "task_id": task_id, "attempt": 0})

    world.invoke(world.load("record_failure"), failure_event(source, 1))

    assert world.output_keys() == [world.failure_key(KEY)]
    assert world.failure_record(KEY)["attempt"] == 1


def test_failed_uploads_are_found_from_their_records_long_keys_too(world):
    long_key = "uploads/" + "x" * 1100 + ".jpg"
    app = world.load("record_failure")
    for key in ("uploads/a.jpg", "uploads/albums/b.jpg", long_key):
        world.invoke(app, failure_event(SourceObject(INPUT_BUCKET, key, version_id="v1"), 0))

    found = {source.key for source in failed_uploads(world.s3, SETTINGS, prefix="uploads/")}
    under_albums = [source.key for source in failed_uploads(world.s3, SETTINGS, prefix="uploads/albums/")]

    assert found == {"uploads/a.jpg", "uploads/albums/b.jpg", long_key}
    assert under_albums == ["uploads/albums/b.jpg"]
