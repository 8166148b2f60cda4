"""Reprocessing on the whole local stack, through what `cutout retry` does: a failed
upload processed again becomes a cutout and its failure record goes; the same request delivered twice
runs once; an upload that has its cutout, reprocessed, still has one cutout, which records the attempt."""

from cutout.reprocessing import failed_uploads, next_attempt, request_reprocess
from cutout.state import ReprocessRequest, SourceObject
from cutout_cli.stacks import connect
from tests.support.images import photo


def cli_stack(pipeline):
    """The stack as the `cutout` command reads it (outputs; prefixes from SubmitFunction's environment)."""
    aws = pipeline.stack.aws
    return connect(aws.endpoint_url, aws.stack_name, aws.region)


def executions_named(pipeline, fragment: str) -> list[str]:
    arn = pipeline.stack.outputs["StateMachineArn"]
    executions = pipeline.sfn.list_executions(stateMachineArn=arn)["executions"]
    return [e["name"] for e in executions if fragment in e["name"]]


def test_a_failed_upload_reprocessed_becomes_a_cutout_and_its_failure_record_goes(pipeline):
    pipeline.stack.provider.faults.update(task_fail_next=1, task_fail_reason="engine hiccup")
    failed = pipeline.run("uploads/hiccup.jpg", photo())
    assert failed.failure["error"] == "ProviderTaskFailedError"

    stack = cli_stack(pipeline)
    [upload] = failed_uploads(pipeline.s3, stack, prefix="uploads/hiccup")
    request = request_reprocess(
        pipeline.stack.client("sqs"), pipeline.s3, stack.target(), upload.key, upload.version_id
    )

    version = failed.failure["source"]["version_id"]  # the notification named it, as S3's do
    assert (request.source.key, request.source.version_id, request.attempt) == (
        "uploads/hiccup.jpg",
        version,
        1,
    )
    outcome = pipeline.reprocessed("uploads/hiccup.jpg", attempt=1)
    assert outcome.execution["status"] == "SUCCEEDED"
    assert outcome.cutout is not None
    assert outcome.failure is None


def test_the_same_reprocess_request_delivered_twice_runs_once(pipeline):
    pipeline.run("uploads/twice.jpg", photo())
    request = ReprocessRequest(SourceObject(pipeline.input_bucket, "uploads/twice.jpg"), attempt=1)
    sqs = pipeline.stack.client("sqs")
    for _ in range(2):
        sqs.send_message(QueueUrl=pipeline.stack.outputs["IngestQueueUrl"], MessageBody=request.to_message())

    assert pipeline.reprocessed("uploads/twice.jpg", attempt=1).execution["status"] == "SUCCEEDED"
    assert len(executions_named(pipeline, "twice-jpg-r1-")) == 1


def test_an_upload_with_a_cutout_reprocessed_still_has_one_cutout_that_records_the_attempt(pipeline):
    first = pipeline.run("uploads/again-please.jpg", photo())
    assert first.cutout is not None
    stack = cli_stack(pipeline)

    request = request_reprocess(
        pipeline.stack.client("sqs"), pipeline.s3, stack.target(), "uploads/again-please.jpg"
    )
    assert request.attempt == 1
    outcome = pipeline.reprocessed("uploads/again-please.jpg", attempt=1)

    cutout_key = pipeline.output_key("uploads/again-please.jpg")
    metadata = pipeline.s3.head_object(Bucket=pipeline.output_bucket, Key=cutout_key)["Metadata"]
    assert outcome.execution["status"] == "SUCCEEDED"
    assert metadata["attempt"] == "1"
    assert [k for k in pipeline.output_keys() if "again-please" in k] == [cutout_key]
    assert next_attempt(pipeline.s3, pipeline.settings, "uploads/again-please.jpg") == 2
