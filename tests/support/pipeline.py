"""The end-to-end tests' view of the whole local stack: upload, wait for the outcome, read it back."""

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from PIL import Image

from cutout.keys import execution_name, failure_key, output_key
from cutout.settings import Settings
from cutout.state import SourceObject
from cutout_local.provider import key_id
from cutout_local.stack import LocalStack
from tests.support.deployed import execution_arns

#: The stack most end-to-end tests run on: instant (recorded) waits, a rate limit never reached, and SQS
#: delivered on upload rather than by a polling thread.
FAST_STACK = {"fast_waits": True, "per_minute": 6000, "sqs_poll_seconds": None}


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

    @cached_property
    def settings(self) -> Settings:
        """The settings the deployed functions run with (their environment as the stack set it)."""
        [function, *_] = self.stack.client("lambda").list_functions()["Functions"]
        return Settings.from_env(function["Environment"]["Variables"])

    def output_key(self, key: str) -> str:
        """Where the cutout of upload ``key`` is written (cutout.keys, with the deployed settings)."""
        return output_key(key, self.settings)

    def failure_key(self, key: str) -> str:
        """Where the failure record of upload ``key`` is written."""
        return failure_key(key, self.settings)

    def run(
        self, key: str, body: bytes, timeout: float = 60, metadata: dict[str, str] | None = None
    ) -> Outcome:
        """Upload (with ``metadata``: the object's user metadata, x-amz-meta-*) and wait until the upload
        has its outcome."""
        if metadata:
            put = self.s3.put_object(Bucket=self.input_bucket, Key=key, Body=body, Metadata=metadata)
        else:
            put = self.stack.upload(key, body)
        return self.outcome(key, put, timeout)

    def output(self, key: str) -> tuple[Image.Image, dict[str, Any]]:
        """The output at ``key`` of the output bucket: its image and its object (headers, metadata)."""
        response = self.s3.get_object(Bucket=self.output_bucket, Key=key)
        return Image.open(io.BytesIO(response.pop("Body").read())), response

    def outcome(self, key: str, put: dict[str, Any], timeout: float = 60) -> Outcome:
        """The execution of this object version (moto's S3 notifications carry no version id, so the
        execution is named from the ETag here, as on AWS for an unversioned bucket), once it ended."""
        return self._ended(key, self.execution_arns(key, put), timeout)

    def execution_arns(self, key: str, put: dict[str, Any]) -> list[str]:
        """The ARNs the execution of this object version may have: named from its version id, or from its
        ETag when the notification carried none."""
        upload = SourceObject(self.input_bucket, key, put.get("VersionId"), put["ETag"].strip('"'))
        return execution_arns(self.stack.outputs["StateMachineArn"], upload)

    def reprocessed(self, key: str, attempt: int, timeout: float = 60) -> Outcome:
        """The outcome of reprocess request ``attempt`` of ``key`` as it is now (admission pins the request
        to the version id and ETag that HEAD gives), once its execution ended."""
        head = self.s3.head_object(Bucket=self.input_bucket, Key=key)
        source = SourceObject(self.input_bucket, key, head.get("VersionId"), head["ETag"].strip('"'))
        return self._ended(key, self._arns({execution_name(source, attempt)}), timeout)

    def _arns(self, names: set[str]) -> list[str]:
        prefix = self.stack.outputs["StateMachineArn"].replace(":stateMachine:", ":execution:")
        return [f"{prefix}:{name}" for name in sorted(names)]

    def _ended(self, key: str, arns: list[str], timeout: float) -> Outcome:
        self.stack.aws.settle(timeout)
        deadline = time.monotonic() + timeout
        execution = None
        while execution is None or execution["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{key}: still running after {timeout} s"
            execution = self._describe(arns)
            if execution is None:
                break
            time.sleep(0.05)
        self.stack.aws.settle(timeout)  # the ended execution's status change event, delivered
        history = self.stack.aws.execution_history(execution["executionArn"]) if execution else []
        return Outcome(key, execution, self._cutout(key), self._failure(key), history)

    def running(self, key: str, put: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        """The execution of this object version once it runs."""
        deadline = time.monotonic() + timeout
        while (execution := self._describe(self.execution_arns(key, put))) is None:
            assert time.monotonic() < deadline, f"{key}: no execution after {timeout} s"
            time.sleep(0.05)
        assert execution["status"] == "RUNNING", execution["status"]
        return execution

    def _describe(self, arns: list[str]) -> dict[str, Any] | None:
        for arn in arns:
            try:
                return self.sfn.describe_execution(executionArn=arn)
            except self.sfn.exceptions.ExecutionDoesNotExist:
                continue
        return None

    def _cutout(self, key: str) -> Image.Image | None:
        body = self._read(self.output_key(key))
        return None if body is None else Image.open(io.BytesIO(body))

    def _failure(self, key: str) -> dict[str, Any] | None:
        body = self._read(self.failure_key(key))
        return None if body is None else json.loads(body)

    def _read(self, key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.output_bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None

    def provider_stats(self) -> dict[str, Any]:
        return self.stack.provider.stats()["keys"].get(key_id(self.stack.api_key), {})

    def failure_records(self) -> list[dict[str, Any]]:
        """Every failure record in the output bucket, read."""
        prefix = self.settings.failure_prefix
        return [json.loads(self._read(key) or b"{}") for key in self.output_keys() if key.startswith(prefix)]

    def output_keys(self) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.output_bucket).get("Contents", [])]


@contextmanager
def pipeline_stack(**overrides: Any) -> Iterator[Pipeline]:
    """A :class:`Pipeline` on a stack of its own: :data:`FAST_STACK` with ``overrides`` (any argument of
    LocalStack), stopped when the block ends."""
    with LocalStack(**{**FAST_STACK, **overrides}) as stack:
        yield Pipeline(stack)
