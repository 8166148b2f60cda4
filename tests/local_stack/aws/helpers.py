"""Helpers shared by the local AWS emulation's tests (a module, not conftest, so tests can import it)."""

import json
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixture"
TEMPLATE = FIXTURE / "template.yaml"
ROOT = Path(__file__).resolve().parents[3]


def upload(aws, key, body=b"x"):
    aws.client("s3").put_object(Bucket=aws.outputs["InputBucketName"], Key=key, Body=body)


def read_json(aws, bucket_output, key):
    body = aws.client("s3").get_object(Bucket=aws.outputs[bucket_output], Key=key)["Body"].read()
    return json.loads(body)


def queue_depth(aws, url_output):
    attrs = aws.client("sqs").get_queue_attributes(QueueUrl=aws.outputs[url_output], AttributeNames=["All"])
    a = attrs["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])
