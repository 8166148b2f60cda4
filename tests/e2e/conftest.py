"""The whole local stack: the real template.yaml and ASL on emulated AWS, the local provider with the
real engine. Waits are instant but recorded (LocalAws ``fast_waits``) except where a test needs real
time to pass (the deadline)."""

import io
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

from cutout.keys import execution_name
from cutout.state import SourceObject
from cutout_local.provider import key_id
from cutout_local.stack import LocalStack

pytestmark = pytest.mark.e2e


@dataclass
class Outcome:
    """How one upload ended: its execution (None when it never started) and what is in the output bucket."""

    key: str
    execution: dict[str, Any] | None
    cutout: Image.Image | None
    failure: dict[str, Any] | None
    history: list[dict[str, Any]]


class Pipeline:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.s3 = stack.client("s3")
        self.sfn = stack.client("stepfunctions")
        self.input_bucket = stack.outputs["InputBucketName"]
        self.output_bucket = stack.outputs["OutputBucketName"]

    def run(self, key: str, body: bytes, timeout: float = 60) -> Outcome:
        """Upload and wait until the upload has its outcome."""
        put = self.stack.upload(key, body)
        return self.outcome(key, put, timeout)

    def outcome(self, key: str, put: dict[str, Any], timeout: float = 60) -> Outcome:
        """The execution of this object version (moto's S3 notifications carry no version id, so the
        execution is named from the ETag here, as on AWS for an unversioned bucket), once it ended."""
        etag = put["ETag"].strip('"')
        names = {
            execution_name(SourceObject(self.input_bucket, key, v, etag))
            for v in (None, put.get("VersionId"))
        }
        prefix = self.stack.outputs["StateMachineArn"].replace(":stateMachine:", ":execution:")
        self.stack.aws.settle(timeout)
        deadline = time.monotonic() + timeout
        execution = None
        while execution is None or execution["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{key}: still running after {timeout} s"
            execution = self._describe([f"{prefix}:{name}" for name in names])
            if execution is None:
                break
            time.sleep(0.05)
        history = self.stack.aws.execution_history(execution["executionArn"]) if execution else []
        return Outcome(key, execution, self._cutout(key), self._failure(key), history)

    def _describe(self, arns: list[str]) -> dict[str, Any] | None:
        for arn in arns:
            try:
                return self.sfn.describe_execution(executionArn=arn)
            except self.sfn.exceptions.ExecutionDoesNotExist:
                continue
        return None

    def _cutout(self, key: str) -> Image.Image | None:
        stem = key.removeprefix("uploads/").rsplit(".", 1)[0]
        try:
            body = self.s3.get_object(Bucket=self.output_bucket, Key=f"cutouts/{stem}.png")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return Image.open(io.BytesIO(body))

    def _failure(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.output_bucket, Key=f"failures/{key}.json")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    def provider_stats(self) -> dict[str, Any]:
        return self.stack.provider.stats()["keys"].get(key_id(self.stack.api_key), {})

    def output_keys(self) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.output_bucket).get("Contents", [])]


@pytest.fixture(scope="module")
def pipeline():
    with LocalStack(fast_waits=True, per_minute=6000, sqs_poll_seconds=None) as stack:
        yield Pipeline(stack)


@pytest.fixture(autouse=True)
def no_faults_left(request):
    yield
    if "pipeline" in request.fixturenames:
        request.getfixturevalue("pipeline").stack.provider.faults.reset()
