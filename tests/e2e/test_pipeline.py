import json
import math

import pytest

from tests.support.images import photo


def wait_seconds(outcome) -> list[int]:
    """The seconds each WaitForTask asked for, from the execution history."""
    return [
        json.loads(e["stateEnteredEventDetails"]["input"])["poll"]["wait_seconds"]
        for e in outcome.history
        if e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "WaitForTask"
    ]


def test_an_upload_becomes_a_cutout(pipeline):
    outcome = pipeline.run("uploads/portrait.jpg", photo(320, 240))
    assert outcome.execution["status"] == "SUCCEEDED"
    assert (outcome.cutout.format, outcome.cutout.mode, outcome.cutout.size) == ("PNG", "RGBA", (320, 240))
    assert outcome.cutout.getchannel("A").getextrema() == (0, 255)
    assert outcome.failure is None


def test_wait_seconds_follow_the_providers_eta(pipeline):
    pipeline.stack.provider.faults.update(task_min_seconds=3.5)
    outcome = pipeline.run("uploads/slow.jpg", photo())
    waits = wait_seconds(outcome)
    assert outcome.execution["status"] == "SUCCEEDED"
    # SendFunction looked at the task right after submitting: the first Wait already follows its eta
    # (seconds left, rounded up by the provider), aimed within its last second, less the loop's own time
    assert 2 <= waits[0] <= math.ceil(3.5), waits
    assert all(1 <= wait <= math.ceil(3.5) for wait in waits), waits  # each next one an eta's too


def test_a_failed_task_leaves_a_failure_record_with_the_providers_reason(pipeline):
    pipeline.stack.provider.faults.update(task_fail_next=1, task_fail_reason="IMAGE_UNREADABLE: corrupt scan")
    outcome = pipeline.run("uploads/broken.jpg", photo())
    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "ProviderTaskFailedError"
    assert outcome.failure["error"] == "ProviderTaskFailedError"
    assert outcome.failure["provider_reason"] == "IMAGE_UNREADABLE: corrupt scan"
    assert outcome.failure["task_id"]
    assert outcome.cutout is None


@pytest.mark.parametrize(
    "faults",
    [
        {"submit_429_next": 2, "submit_429_retry_after": 1},
        {"submit_429_next": 2, "submit_429_retry_after": None},
        {"submit_5xx_next": 2, "submit_5xx_status": 503},
        {"submit_5xx_next": 1, "submit_5xx_status": 500},
        {"poll_5xx_next": 2},
        {"poll_malformed_next": 1},
        {"poll_unknown_status_next": 2},
        {"reset_next": 1},
    ],
)
def test_transient_provider_faults_are_retried_to_a_cutout(pipeline, faults):
    before = pipeline.provider_stats().get("accepted", 0)
    pipeline.stack.provider.faults.update(**faults)
    key = "uploads/flaky-" + "-".join(f"{k}{v}" for k, v in faults.items()) + ".jpg"
    outcome = pipeline.run(key, photo())
    assert outcome.execution["status"] == "SUCCEEDED"
    assert outcome.cutout is not None
    assert outcome.failure is None
    assert pipeline.provider_stats()["accepted"] == before + 1  # submitted once


def test_a_file_that_is_not_an_image_never_reaches_the_provider(pipeline):
    before = pipeline.provider_stats().get("submit_requests", 0)
    outcome = pipeline.run("uploads/letter.jpg", b"Dear provider, this is not a photo.")
    assert outcome.execution is None
    assert outcome.failure["error"] == "UnsupportedInputError"
    assert "not an image" in outcome.failure["reason"]
    assert pipeline.provider_stats().get("submit_requests", 0) == before


def test_the_same_notification_three_times_is_one_submission_and_one_outcome(pipeline):
    put = pipeline.stack.upload("uploads/dup.jpg", photo())
    pipeline.outcome("uploads/dup.jpg", put)
    accepted = pipeline.provider_stats()["accepted"]
    queue = pipeline.stack.outputs["IngestQueueUrl"]
    sqs = pipeline.stack.client("sqs")
    [message] = [m for m in pipeline.stack.aws.invocations if "dup.jpg" in str(m.event)][:1]
    body = message.event["Records"][0]["body"]
    for _ in range(2):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    outcome = pipeline.outcome("uploads/dup.jpg", put)
    assert outcome.execution["status"] == "SUCCEEDED"
    assert pipeline.provider_stats()["accepted"] == accepted


def test_a_reupload_of_the_same_key_is_processed_again(pipeline):
    first = pipeline.run("uploads/again.jpg", photo(64, 48))
    second = pipeline.run("uploads/again.jpg", photo(96, 64))
    assert first.execution["name"] != second.execution["name"]
    assert second.cutout.size == (96, 64)


def test_outputs_never_trigger_processing(pipeline):
    outcome = pipeline.run("uploads/once.jpg", photo())
    assert outcome.cutout is not None
    names = [i.function for i in pipeline.stack.aws.invocations]
    assert names.count("SubmitFunction") >= 1
    assert not any(
        pipeline.settings.output_prefix in str(i.event)
        for i in pipeline.stack.aws.invocations
        if i.function == "SubmitFunction"
    )


def test_a_300_character_cjk_key_gets_its_cutout(pipeline):
    """Percent-encoded, its key is 2,700 bytes: more than S3 allows of user metadata (2 KB, enforced by
    the emulator as by S3), so the cutout names its source by the key's digest instead."""
    key = "uploads/" + "写真" * 150 + ".jpg"
    outcome = pipeline.run(key, photo())
    assert outcome.failure is None
    assert outcome.cutout is not None
    metadata = pipeline.s3.head_object(Bucket=pipeline.output_bucket, Key=pipeline.output_key(key))[
        "Metadata"
    ]
    assert "source-key" not in metadata
    assert len(metadata["source-key-sha256"]) == 64


def test_three_quick_overwrites_of_an_unversioned_key_end_as_the_newest_uploads_cutout(pipeline):
    """Image, text, image at one key as fast as they go: every read is pinned to the ETag each
    notification names, so each execution processes the bytes it was named for or ends superseded, and
    the key's one outcome is the last image's cutout, of its bytes."""
    key = "uploads/overwritten-thrice.jpg"
    puts = [pipeline.stack.upload(key, body) for body in (photo(64, 48), b"plain text\n", photo(80, 60))]
    pipeline.stack.aws.wait_for_executions(timeout=120)
    outputs = pipeline.output_keys()
    assert pipeline.failure_key(key) not in outputs
    head = pipeline.s3.head_object(Bucket=pipeline.output_bucket, Key=pipeline.output_key(key))
    assert head["Metadata"]["source-etag"] == puts[2]["ETag"].strip('"')
    assert pipeline.outcome(key, puts[2]).cutout.size == (80, 60)
