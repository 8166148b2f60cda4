"""Stacks of the canary app (tests/localaws/fixture) on the local AWS emulation."""

import json
from pathlib import Path

import pytest

from cutout_local.aws import LocalAws

FIXTURE = Path(__file__).parent / "fixture"
TEMPLATE = FIXTURE / "template.yaml"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def aws():
    """A fresh canary stack with fast time."""
    with LocalAws(template=TEMPLATE) as stack:
        yield stack


@pytest.fixture(scope="module")
def deployed():
    """One canary stack shared by a module's read-only checks."""
    with LocalAws(template=TEMPLATE) as stack:
        yield stack


def upload(aws, key, body=b"x"):
    aws.client("s3").put_object(Bucket=aws.outputs["InputBucketName"], Key=key, Body=body)


def read_json(aws, bucket_output, key):
    body = aws.client("s3").get_object(Bucket=aws.outputs[bucket_output], Key=key)["Body"].read()
    return json.loads(body)


def queue_depth(aws, url_output):
    attrs = aws.client("sqs").get_queue_attributes(QueueUrl=aws.outputs[url_output], AttributeNames=["All"])
    a = attrs["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])
