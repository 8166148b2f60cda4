"""EventBridge delivery of ended executions' status change events (cutout_local/aws/eventbridge.py), on the
canary app: a rule's pattern decides, a target that cannot be invoked is retried per its RetryPolicy and
then dead-lettered with EventBridge's attributes. (The product's rule, its function's errors retried by
Lambda and dead-lettered: tests/e2e/test_execution_ended.py.)"""

import json

import pytest

from tests.local_stack.aws.helpers import create_probe, upload


@pytest.fixture(scope="module")
def stack():
    from cutout_local.aws import LocalAws
    from tests.local_stack.aws.helpers import TEMPLATE

    with LocalAws(template=TEMPLATE) as aws:
        yield aws


def rule(aws, name, target_arn, pattern, **target):
    events = aws.client("events")
    arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "t", "Arn": target_arn, **target}])
    return arn


def test_a_matching_rules_lambda_target_gets_the_event(stack):
    probe = create_probe(stack, "status-probe")
    arn = stack.client("lambda").get_function(FunctionName=probe)["Configuration"]["FunctionArn"]
    machine = stack.outputs["StateMachineArn"]
    rule(stack, "succeeded", arn, {"source": ["aws.states"], "detail": {"status": ["SUCCEEDED"]}})
    rule(stack, "other-machine", arn, {"detail": {"stateMachineArn": [machine + "-other"]}})

    upload(stack, "incoming/delivered.csv")
    [execution] = [e for e in stack.wait_for_executions(n=1) if "delivered.csv" in e["input"]]

    [invocation] = [i for i in stack.invocations if i.function == probe]
    assert invocation.event["detail"]["executionArn"] == execution["executionArn"]
    assert invocation.event["detail"]["stateMachineArn"] == machine


def test_a_target_that_cannot_be_invoked_is_retried_then_dead_lettered(stack):
    sqs = stack.client("sqs")
    queue = sqs.create_queue(QueueName="status-dlq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    missing = "arn:aws:lambda:us-east-1:123456789012:function:no-such-function"
    rule_arn = rule(
        stack,
        "undeliverable",
        missing,
        {"source": ["aws.states"]},
        RetryPolicy={"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 60},
        DeadLetterConfig={"Arn": queue_arn},
    )
    sleeps_before = len(stack.status_changes.sleeps)

    upload(stack, "incoming/undeliverable.csv")
    stack.wait_for_executions(n=2)

    assert stack.status_changes.sleeps[sleeps_before:] == [1.0, 2.0, 4.0]  # exponential backoff, 3 retries
    [message] = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == rule_arn
    assert attributes["TARGET_ARN"] == missing
    assert json.loads(message["Body"])["detail-type"] == "Step Functions Execution Status Change"
