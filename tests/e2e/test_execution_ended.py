"""Every execution that ends without a cutout leaves a failure record, whatever ended it: its TimeoutSeconds,
a StopExecution, or an error outside its own Catch. The local stack sends each ended execution's
EventBridge status change event to the rules' Lambda targets as AWS does (cutout_local/aws/eventbridge.py),
so ExecutionEndedFunction runs here as it does deployed. One stack for the module, the state machine's
TimeoutSeconds compressed from 30 days to a few seconds."""

import json

import pytest

from tests.support.images import photo
from tests.support.pipeline import pipeline_stack

TIMEOUT_SECONDS = 9  # the failing path, every function cold, takes 3-5 s on this shared machine


@pytest.fixture(scope="module")
def pipeline():
    with pipeline_stack(execution_timeout_seconds=TIMEOUT_SECONDS) as pipeline:
        yield pipeline


def ended_invocations(pipeline, execution):
    return [
        i
        for i in pipeline.stack.aws.invocations
        if i.function == "ExecutionEndedFunction"
        and i.event["detail"]["executionArn"] == execution["executionArn"]
    ]


def test_a_normally_failed_upload_keeps_the_one_record_the_state_machine_wrote(pipeline):
    pipeline.stack.provider.faults.update(task_fail_next=1)

    outcome = pipeline.run("uploads/ended/refused.jpg", photo())

    assert outcome.execution["status"] == "FAILED"
    assert outcome.failure["error"] == "ProviderTaskFailedError"
    [ended] = ended_invocations(pipeline, outcome.execution)
    assert ended.result == {"status": "FAILED", "failure_key": None}  # the record was there: not rewritten
    assert [k for k in pipeline.output_keys() if "refused" in k] == [pipeline.failure_key(outcome.key)]


def test_a_timed_out_execution_leaves_a_record_that_says_so(pipeline):
    # the first poll is answered after the execution's TimeoutSeconds
    pipeline.stack.provider.faults.update(poll_latency_next=1, poll_latency_seconds=TIMEOUT_SECONDS + 0.5)

    outcome = pipeline.run("uploads/ended/slow.jpg", photo())

    assert outcome.execution["status"] == "TIMED_OUT"
    assert outcome.cutout is None
    assert outcome.failure["error"] == "ExecutionTimedOut"
    assert "timed out" in outcome.failure["reason"]
    assert outcome.execution["executionArn"] in outcome.failure["reason"]
    [ended] = ended_invocations(pipeline, outcome.execution)
    assert ended.result["failure_key"] == pipeline.failure_key(outcome.key)


def test_an_aborted_execution_leaves_a_record_that_says_so(pipeline):
    pipeline.stack.provider.faults.update(poll_latency_next=1, poll_latency_seconds=2)
    key = "uploads/ended/stopped.jpg"
    put = pipeline.stack.upload(key, photo())
    running = pipeline.running(key, put)

    pipeline.sfn.stop_execution(executionArn=running["executionArn"], error="Operator", cause="stuck")
    outcome = pipeline.outcome(key, put)

    assert outcome.execution["status"] == "ABORTED"
    assert outcome.cutout is None
    assert outcome.failure["error"] == "ExecutionAborted"
    assert "aborted" in outcome.failure["reason"]


def test_an_execution_whose_record_failure_fails_for_good_leaves_a_record(pipeline):
    lam = pipeline.stack.client("lambda")
    record_failure = pipeline.stack.aws.resources["RecordFailureFunction"]
    lam.put_function_concurrency(FunctionName=record_failure, ReservedConcurrentExecutions=0)  # throttled
    pipeline.stack.provider.faults.update(task_fail_next=1)
    try:
        outcome = pipeline.run("uploads/ended/unrecorded.jpg", photo())
    finally:
        lam.delete_function_concurrency(FunctionName=record_failure)

    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] != "ProviderTaskFailedError"  # RecordFailure's own, past its Retry
    assert outcome.failure["error"] == outcome.execution["error"]
    assert "failed outside the state machine's own Catch" in outcome.failure["reason"]
    [ended] = ended_invocations(pipeline, outcome.execution)
    assert ended.result["failure_key"] == pipeline.failure_key(outcome.key)


def test_an_execution_whose_input_is_unreadable_ends_in_the_dead_letter_queue_in_view(pipeline):
    sfn, sleeps_before = pipeline.sfn, len(pipeline.stack.aws.status_changes.sleeps)
    arn = sfn.start_execution(stateMachineArn=pipeline.stack.outputs["StateMachineArn"], input="{}")[
        "executionArn"
    ]
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        pass
    pipeline.stack.aws.settle()

    attempts = ended_invocations(pipeline, execution)
    assert execution["status"] == "FAILED"  # States.Runtime: no $.slot to wait for
    assert [type(i.error).__name__ for i in attempts] == ["ExecutionInputUnreadableError"] * 3
    assert pipeline.stack.aws.status_changes.sleeps[sleeps_before:] == [60.0, 120.0]  # Lambda's retries
    sqs = pipeline.stack.client("sqs")
    queue = pipeline.stack.outputs["ExecutionEndedDeadLetterQueueUrl"]
    [message] = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"])["detail"]["executionArn"] == arn
    assert "input unreadable" in message["MessageAttributes"]["ErrorMessage"]["StringValue"]
