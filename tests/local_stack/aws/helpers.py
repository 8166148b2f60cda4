"""Helpers shared by the local AWS emulation's tests (a module, not conftest, so tests can import it)."""

import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.config import Config

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


PROBE = FIXTURE / "functions" / "probe" / "app.py"


def create_probe(aws, name, variables=None, *, timeout=30, reserved=None):
    """A function running the probe (fixture/functions/probe), created through the Lambda API."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(PROBE, "app.py")
    lam = aws.client("lambda")
    role = aws.client("iam").get_role(RoleName=aws.resources["CheckStatusFunctionRole"])["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()},
        Timeout=timeout,
        Environment={"Variables": variables or {}},
    )
    if reserved is not None:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    return name


def invoke(aws, name, event=None):
    """Invoke through the Lambda API; ``(payload, function_error)``. A client per call: safe on threads."""
    lam = aws.client("lambda", config=Config(read_timeout=120, retries={"total_max_attempts": 1}))
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def invoke_all(aws, calls):
    """``calls`` = [(name, event)], all at once on threads; their ``invoke`` results in order."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: invoke(aws, *call), calls))


def max_overlap(invocations):
    """The most invocations that ran at the same moment (from their ``started``/``ended`` times)."""
    edges = sorted([(i.started, 1) for i in invocations] + [(i.ended, -1) for i in invocations])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most
