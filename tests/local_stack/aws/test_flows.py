"""Runtime behaviour that the product's tests rely on: Retry/Catch by error name, fast time, SQS batching,
partial batch failures, redelivery and dead-lettering."""

import json

from cutout_local.aws import LocalAws
from tests.local_stack.aws.helpers import TEMPLATE, queue_depth, read_json, upload


def submit_records(aws):
    return [r for i in aws.invocations if i.function == "SubmitFunction" for r in i.event["Records"]]


def test_retry_matches_the_error_name_and_its_interval_is_recorded_not_slept(aws):
    upload(aws, "incoming/flaky.csv")

    [execution] = aws.wait_for_executions(n=1)

    assert execution["status"] == "SUCCEEDED"
    assert aws.retry_sleeps == [7]
    failed = [e for e in aws.execution_history(execution["executionArn"]) if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["error"] == "ProviderThrottledError"


def test_catch_matches_the_error_name_and_the_failure_is_recorded(aws):
    upload(aws, "incoming/bad.csv")

    [execution] = aws.wait_for_executions(n=1)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "ProviderTaskFailedError"
    failure = read_json(aws, "OutputBucketName", "failures/incoming/bad.csv.json")
    assert json.loads(failure["Cause"])["errorType"] == "ProviderTaskFailedError"


def test_messages_that_piled_up_arrive_in_one_invocation(aws):
    lam = aws.client("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName=aws.resources["SubmitFunction"])[
        "EventSourceMappings"
    ]
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    for name in ("a", "b", "c"):
        upload(aws, f"incoming/{name}.csv")
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)

    assert aws.redeliver() == 4  # the s3:TestEvent queued at deploy, then the three uploads

    [invocation] = [i for i in aws.invocations if i.function == "SubmitFunction"]
    assert len(invocation.event["Records"]) == 4
    assert len(aws.wait_for_executions(n=3)) == 3


def test_a_reported_item_comes_back_alone_until_it_is_dead_lettered(aws):
    upload(aws, "incoming/poison.csv")
    upload(aws, "incoming/good.csv")
    aws.settle()
    for _ in range(3):
        aws.redeliver()

    poison = [r for r in submit_records(aws) if "poison" in r["body"]]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in poison] == ["1", "2", "3"]
    assert sum("good.csv" in r["body"] for r in submit_records(aws)) == 1
    assert queue_depth(aws, "IngestQueueUrl") == (0, 0)
    assert queue_depth(aws, "IngestDeadLetterQueueUrl") == (1, 0)
    assert [e["status"] for e in aws.wait_for_executions(n=1)] == ["SUCCEEDED"]


def test_an_exception_returns_the_whole_batch(aws):
    upload(aws, "incoming/crash.csv")
    aws.settle()
    [first] = [i for i in aws.invocations if i.function == "SubmitFunction"]
    assert type(first.error).__name__ == "CrashError"

    assert aws.redeliver() == 2  # the crash and the s3:TestEvent it was delivered with

    [_, second] = [i for i in aws.invocations if i.function == "SubmitFunction"]
    assert {r["attributes"]["ApproximateReceiveCount"] for r in second.event["Records"]} == {"2"}
    assert queue_depth(aws, "IngestQueueUrl") == (2, 0)


def test_without_fast_time_a_failed_message_waits_for_its_visibility_timeout():
    with LocalAws(template=TEMPLATE, fast_waits=False) as aws:
        upload(aws, "incoming/poison.csv")
        aws.settle()

        assert aws.redeliver() == 0
        assert queue_depth(aws, "IngestQueueUrl") == (0, 1)


def test_a_background_poller_redelivers_without_being_asked():
    with LocalAws(template=TEMPLATE, sqs_poll_seconds=0.05) as aws:
        upload(aws, "incoming/poison.csv")
        for _ in range(100):
            if queue_depth(aws, "IngestDeadLetterQueueUrl") == (1, 0):
                break
            aws.settle()
        assert queue_depth(aws, "IngestDeadLetterQueueUrl") == (1, 0)
