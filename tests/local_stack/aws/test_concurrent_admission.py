"""Admission under real concurrency, on the product's template.yaml: SubmitFunction's environments run side by
side and reserve their submission slots in DynamoDB at the same time, so the schedule's atomic writes
(cutout.pacing) are tested as on AWS, against moto serving one request at a time.

The schedule is made busy before the uploads (next_free an hour ahead, one slot a minute): every execution
then waits in WaitForSlot for the whole test, so nothing reaches the (absent) provider, and every
admitter takes its slot with the one atomic write of a busy schedule."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import boto3
import pytest

from cutout.pacing import LIMITER_ID, SubmissionPacer
from cutout_local.aws import LocalAws
from tests.local_stack.aws.helpers import ROOT, max_overlap, queue_depth
from tests.support.images import photo

UPLOADS = 60
PER_MINUTE = 1  # the template's SubmissionsPerMinute: slots 63 s apart (with the safety margin)
ADMITTERS = 50
DUPLICATES = 3  # copies of each notification sent again


@pytest.fixture(scope="module")
def product():
    with LocalAws(
        template=ROOT / "template.yaml",
        parameters={"ProviderBaseUrl": "http://127.0.0.1:9", "SubmissionsPerMinute": str(PER_MINUTE)},
        fast_waits=False,
    ) as aws:
        yield aws


def schedule(aws, limiter_id=LIMITER_ID):
    table = aws.client("dynamodb")
    item = table.get_item(
        TableName=aws.resources["RateLimitTable"], Key={"id": {"S": limiter_id}}, ConsistentRead=True
    )["Item"]
    return Decimal(item["next_free"]["N"])


def execution_inputs(aws):
    sfn = aws.client("stepfunctions")
    arn = aws.outputs["StateMachineArn"]
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
    listed = [e for page in pages for e in page["executions"]]
    return {
        e["name"]: json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed
    }


def submits(aws):
    return [i for i in aws.invocations if i.function == "SubmitFunction"]


def notifications(calls):
    """The bodies of the upload notifications these invocations got (not the s3:TestEvent of the deploy)."""
    return [r["body"] for i in calls for r in i.event["Records"] if "uploads%2Fadmission%2F" in r["body"]]


def close(values, expected):
    return len(values) == len(expected) and all(
        abs(v - e) < 1e-4 for v, e in zip(values, expected, strict=True)
    )


@pytest.fixture(scope="module")
def admitted(product):
    """60 uploads at once, each delivered to SubmitFunction as it arrives."""
    aws = product
    seed = Decimal(f"{time.time() + 3600:.6f}")
    aws.client("dynamodb").put_item(
        TableName=aws.resources["RateLimitTable"],
        Item={"id": {"S": LIMITER_ID}, "next_free": {"N": str(seed)}},
    )
    bucket = aws.outputs["InputBucketName"]
    keys = [f"uploads/admission/{n:03d}.jpg" for n in range(UPLOADS)]
    body = photo()
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda key: aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body), keys))
    aws.settle(120)
    return seed, keys, execution_inputs(aws)


def test_every_upload_is_admitted_once_with_a_slot_of_its_own(product, admitted):
    aws = product
    seed, keys, inputs = admitted
    spacing = SubmissionPacer(None, PER_MINUTE).spacing

    assert sorted(i["source"]["key"] for i in inputs.values()) == keys  # each upload once, none twice
    slots = sorted(i["slot"]["at"] for i in inputs.values())
    assert len(set(slots)) == UPLOADS
    assert close(slots, [float(seed) + n * spacing for n in range(UPLOADS)])  # none lost, none shared
    assert schedule(aws) == seed + UPLOADS * Decimal(f"{spacing:.6f}")


def test_the_admitters_ran_side_by_side_and_none_was_ever_busy(product, admitted):
    aws = product
    calls = submits(aws)

    assert len(notifications(calls)) == UPLOADS
    assert [i.error for i in calls if i.error is not None] == []
    assert [i.result for i in calls if i.result["batchItemFailures"]] == []
    assert not [line for line in aws.function_logs if "RateLimiterBusyError" in line]
    assert queue_depth(aws, "IngestQueueUrl") == (0, 0)
    assert queue_depth(aws, "IngestDeadLetterQueueUrl") == (0, 0)
    environments = {i.environment for i in calls}
    assert 2 <= len(environments) <= aws.max_environments_per_function
    assert max_overlap(calls) >= 2


def test_duplicate_notifications_sent_at_once_start_nothing_and_take_no_slot(product, admitted):
    aws = product
    _, _, before = admitted
    next_free = schedule(aws)
    bodies = notifications(submits(aws))[:5]
    seen = len(submits(aws))
    queue = aws.outputs["IngestQueueUrl"]

    with ThreadPoolExecutor(len(bodies) * DUPLICATES) as pool:
        list(
            pool.map(
                lambda b: aws.client("sqs").send_message(QueueUrl=queue, MessageBody=b), bodies * DUPLICATES
            )
        )
    aws.settle(120)

    again = submits(aws)[seen:]
    assert sum(len(i.event["Records"]) for i in again) == len(bodies) * DUPLICATES
    assert [i.error for i in again if i.error is not None] == []
    assert [i.result for i in again if i.result["batchItemFailures"]] == []
    assert execution_inputs(aws) == before  # nothing started, nothing changed
    assert schedule(aws) == next_free  # no slot taken
    assert queue_depth(aws, "IngestQueueUrl") == (0, 0)


def test_fifty_admitters_at_once_on_an_empty_schedule_each_get_a_slot_of_their_own(
    product, eager_thread_switches
):
    """The pacer itself, 50 threads at once on an idle schedule: the restart (one writer wins) and the
    atomic takes race, as many SubmitFunction environments would."""
    aws = product
    session = boto3.session.Session()  # one resource per admitter (they are not thread-safe), made here
    dynamodb = [
        session.resource(
            "dynamodb", endpoint_url=aws.endpoint_url, region_name=aws.region,
            aws_access_key_id="test", aws_secret_access_key="test",
        )
        for _ in range(ADMITTERS)
    ]  # fmt: skip
    table = aws.resources["RateLimitTable"]
    pacers = [
        SubmissionPacer(d.Table(table), PER_MINUTE, limiter_id="test-fifty-admitters") for d in dynamodb
    ]
    start = threading.Barrier(ADMITTERS)

    def admit(pacer):
        start.wait()
        return pacer.reserve()

    with ThreadPoolExecutor(ADMITTERS) as pool:
        slots = sorted(pool.map(admit, pacers))  # a RateLimiterBusyError would raise here

    spacing = SubmissionPacer(None, PER_MINUTE).spacing
    assert len(set(slots)) == ADMITTERS
    assert close(slots, [slots[0] + n * spacing for n in range(ADMITTERS)])  # none lost, none shared
    assert close([float(schedule(aws, "test-fifty-admitters"))], [slots[0] + ADMITTERS * spacing])
