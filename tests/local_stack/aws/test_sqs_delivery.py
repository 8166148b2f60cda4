"""SQS batches are delivered concurrently, like the Lambda service's pollers: up to the mapping's
ScalingConfig.MaximumConcurrency at a time, else as many as the function may have environments."""

import json
import time

from cutout_local.aws import LocalAws
from tests.local_stack.aws.helpers import TEMPLATE, create_probe, max_overlap


def probe_queue(aws, **mapping):
    """A queue feeding the probe one message per batch, and the probe's invocations so far (a function)."""
    create_probe(aws, "probe")
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="probe-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("lambda").create_event_source_mapping(
        EventSourceArn=arn, FunctionName="probe", BatchSize=1, **mapping
    )
    return url


def send_sleepers(aws, url, n, seconds):
    """``n`` messages at once, each making the probe sleep; the seconds until all were processed."""
    began = time.monotonic()
    entries = [{"Id": str(i), "MessageBody": json.dumps({"sleep": seconds})} for i in range(n)]
    aws.client("sqs").send_message_batch(QueueUrl=url, Entries=entries)
    aws.settle()
    return time.monotonic() - began


def test_batches_are_delivered_side_by_side_up_to_the_mappings_maximum_concurrency(aws):
    url = probe_queue(aws, ScalingConfig={"MaximumConcurrency": 2})

    seconds = send_sleepers(aws, url, 6, 0.5)

    calls = [i for i in aws.invocations if i.function_name == "probe"]
    assert len(calls) == 6
    assert max_overlap(calls) == 2
    assert len({i.environment for i in calls}) == 2
    assert seconds >= 1.5  # three rounds of two
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"]
        == attributes["ApproximateNumberOfMessagesNotVisible"]
        == "0"
    )


def test_without_a_scaling_config_as_many_batches_as_environments_are_in_flight():
    with LocalAws(template=TEMPLATE, max_environments_per_function=3) as aws:
        url = probe_queue(aws)

        seconds = send_sleepers(aws, url, 6, 1.0)

        calls = [i for i in aws.invocations if i.function_name == "probe"]
        assert len(calls) == 6
        assert max_overlap(calls) == 3
        assert 2.0 <= seconds < 5.0  # two rounds of three
