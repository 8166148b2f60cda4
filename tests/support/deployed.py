"""The deployed suite's view of a stack (tests/deployed): AWS APIs only, and only what the stack describes.

A stack is reached through an :class:`Endpoint`, a region, a profile and an endpoint URL that only the
local stack has, and named; everything else (buckets, state machine, queue, secret, log groups, prefixes,
the submission pace) comes from CloudFormation's DescribeStacks of it: its outputs and parameters. The same
code runs against AWS and against the local stack's emulator; the endpoint is the only difference.

Where an upload's outputs are, what its execution is named and which outcome is whose come from the
product's own functions (``cutout.keys``, ``cutout.outcomes``), as the functions compute them."""

from __future__ import annotations

import io
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config
from botocore.exceptions import ClientError, ProfileNotFound
from PIL import Image

from cutout.apikey import ApiKey
from cutout.keys import execution_name
from cutout.outcomes import Outcome as StoredOutcome
from cutout.outcomes import all_outcomes, cutout_outcome, failure_outcome
from cutout.reprocessing import Target
from cutout.state import SourceObject
from tests.support.events import s3_notification

#: the stack outputs and template parameters the suite reads (tests/deployed/test_modes.py checks that
#: template.yaml declares them)
OUTPUTS = (
    "InputBucketName", "OutputBucketName", "StateMachineArn", "IngestQueueUrl", "NovitaApiKeySecretArn",
    "SubmissionsPerMinute", "FunctionLogGroups",
)  # fmt: skip
PARAMETERS = ("InputPrefix", "OutputPrefix", "FailurePrefix", "VariantPrefix", "LogLevel")
#: stack states in which it is deployed and usable
USABLE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"})
#: how often a wait looks again (about 2 S3 calls per upload waited for)
POLL_SECONDS = 0.5
#: how far before the run's start its log lines are read from (the runner's clock against AWS's)
CLOCK_SLACK_SECONDS = 60
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10})


class StackUnavailable(Exception):
    """There is no stack to test: no AWS credentials, or no stack of that name in the region."""


@dataclass(frozen=True)
class Endpoint:
    """Where the stack's AWS APIs answer: AWS (``endpoint_url`` None, credentials from ``profile`` or the
    environment), or the local stack's emulator (its URL; its credentials are in the environment)."""

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None

    def clients(self) -> Clients:
        """The clients of one session: its credentials, in the region, at the endpoint."""
        try:
            session = boto3.Session(profile_name=self.profile, region_name=self.region)
        except ProfileNotFound as exc:
            raise StackUnavailable(f"no AWS credentials found (profile {self.profile!r} not found)") from exc
        if session.get_credentials() is None:
            raise StackUnavailable(
                "no AWS credentials found (environment, shared credentials or config file, SSO, instance "
                "role; give PROFILE=<name> to use a profile)"
            )
        if session.region_name is None:
            raise StackUnavailable("no AWS region given (REGION=<region>, or AWS_DEFAULT_REGION)")
        return Clients(session, self.endpoint_url)


class Clients:
    """One client per service, all made alike: only ``endpoint_url`` (None on AWS) tells the modes apart."""

    def __init__(self, session: boto3.Session, endpoint_url: str | None) -> None:
        self._session, self._endpoint_url = session, endpoint_url
        self.made: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self.made:
            self.made[service] = self._session.client(
                service, endpoint_url=self._endpoint_url, config=_CONFIG
            )
        return self.made[service]


@dataclass
class Outcome:
    """How one upload ended: its execution (None when it was turned away at admission) and history, and
    its outcome in the output bucket: a cutout (the image, its key, and GetObject's answer without the
    body: ETag, Metadata...) or a failure record (read, and its key)."""

    upload: SourceObject
    execution: dict[str, Any] | None
    history: list[dict[str, Any]]
    cutout: Image.Image | None = None
    cutout_key: str | None = None
    cutout_object: dict[str, Any] = field(default_factory=dict)
    failure: dict[str, Any] | None = None
    failure_key: str | None = None

    @property
    def submissions(self) -> list[float]:
        """When the execution submitted the image to the provider (:func:`submissions`)."""
        return submissions(self.history)


class DeployedStack:
    """A stack as DescribeStacks describes it, and what the scenarios do with it: upload, notify again,
    wait for outcomes, read histories, logs and the API key. Its uploads are under a prefix of the run's
    own (:attr:`run`), removed with their outputs by :meth:`remove_uploads`."""

    def __init__(self, name: str, clients: Clients, description: dict[str, Any]) -> None:
        self.name = name
        self.description = description
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
        self.parameters = {p["ParameterKey"]: p["ParameterValue"] for p in description.get("Parameters", [])}
        self.target = Target(
            queue_url=self.outputs["IngestQueueUrl"],
            input_bucket=self.outputs["InputBucketName"],
            output_bucket=self.outputs["OutputBucketName"],
            input_prefix=self.parameters["InputPrefix"],
            output_prefix=self.parameters["OutputPrefix"],
            failure_prefix=self.parameters["FailurePrefix"],
            variant_prefix=self.parameters["VariantPrefix"],
        )
        self.submissions_per_minute = int(self.outputs["SubmissionsPerMinute"])
        self.log_groups = self.outputs["FunctionLogGroups"].split(",")
        self.token = secrets.token_hex(4)
        self.run = f"deployed-suite/{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{self.token}/"
        self.started = time.time()
        self.uploaded: list[str] = []
        self.client = clients

    @classmethod
    def describe(cls, endpoint: Endpoint, name: str) -> DeployedStack:
        """The stack ``name`` as DescribeStacks answers at ``endpoint``: the one call that finds the rest."""
        clients = endpoint.clients()
        cloudformation = clients("cloudformation")
        try:
            [description] = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
                region = cloudformation.meta.region_name
                raise StackUnavailable(f"stack {name} not found in region {region}") from exc
            raise
        status = description["StackStatus"]
        if status not in USABLE:
            raise RuntimeError(f"stack {name} is {status}: not usable until it is deployed")
        return cls(name, clients, description)

    # -- uploads and notifications -------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The input key of a file named ``name`` in this run."""
        return f"{self.target.input_prefix}{self.run}{name}"

    def upload(self, name: str, body: bytes) -> SourceObject:
        """Put ``body`` at :meth:`key` (``name``); the upload, as its notification names it."""
        key = self.key(name)
        put = self.client("s3").put_object(Bucket=self.target.input_bucket, Key=key, Body=body)
        self.uploaded.append(key)
        return SourceObject(self.target.input_bucket, key, put.get("VersionId"), put["ETag"].strip('"'))

    def notify_again(self, outcome: Outcome) -> None:
        """Send the upload's S3 notification to the ingest queue once more, as S3 may deliver one twice:
        the record S3 sent, with the version id, ETag and sequencer that its cutout records of it."""
        s3 = self.client("s3")
        sequencer = outcome.cutout_object.get("Metadata", {}).get("source-sequencer")
        upload = replace(outcome.upload, sequencer=sequencer)
        size = s3.head_object(Bucket=upload.bucket, Key=upload.key, IfMatch=f'"{upload.etag}"')[
            "ContentLength"
        ]
        body = s3_notification(upload, size=size, region=s3.meta.region_name)
        self.client("sqs").send_message(QueueUrl=self.target.queue_url, MessageBody=body)

    # -- outcomes ------------------------------------------------------------------------------------

    def wait_for_outcome(self, upload: SourceObject, timeout: float = 180) -> Outcome:
        [outcome] = self.wait_for_outcomes([upload], timeout)
        return outcome

    def wait_for_outcomes(self, uploads: list[SourceObject], timeout: float = 180) -> list[Outcome]:
        """Wait until each upload's key holds an outcome of that upload and none of another upload (the
        newest upload's outcome stands alone), and its execution, if it has one, has ended."""
        deadline = time.monotonic() + timeout
        pending = list(uploads)
        while pending:
            pending = [u for u in pending if not self._settled(u)]
            if pending and time.monotonic() > deadline:
                found = {u.key: [self._describe_stored(o) for o in self._stored(u.key)] for u in pending}
                raise AssertionError(
                    f"after {timeout} s, {len(pending)} uploads without their outcome: {found}"
                )
            if pending:
                time.sleep(POLL_SECONDS)
        return [self._outcome(u, deadline) for u in uploads]

    def _stored(self, key: str) -> list[StoredOutcome]:
        s3 = self.client("s3")
        return all_outcomes(s3, self.target, key)

    def _settled(self, upload: SourceObject) -> bool:
        stored = self._stored(upload.key)
        return bool(stored) and all(o.is_of(upload) for o in stored)

    @staticmethod
    def _describe_stored(outcome: StoredOutcome) -> str:
        return f"{outcome.key} (of revisions {sorted(outcome.revisions)})"

    def _outcome(self, upload: SourceObject, deadline: float) -> Outcome:
        execution = self._ended_execution(upload, deadline)
        outcome = Outcome(upload, execution, self.history(execution["executionArn"]) if execution else [])
        s3, bucket = self.client("s3"), self.target.output_bucket
        cutout = cutout_outcome(s3, self.target, upload.key)
        if cutout is not None:
            response = s3.get_object(Bucket=bucket, Key=cutout.key)
            outcome.cutout = Image.open(io.BytesIO(response.pop("Body").read()))
            outcome.cutout_key, outcome.cutout_object = cutout.key, response
        failure = failure_outcome(s3, self.target, upload.key)
        if failure is not None:
            body = s3.get_object(Bucket=bucket, Key=failure.key)["Body"].read()
            outcome.failure, outcome.failure_key = json.loads(body), failure.key
        return outcome

    def _ended_execution(self, upload: SourceObject, deadline: float) -> dict[str, Any] | None:
        """The upload's execution once it has ended; None when it has none."""
        while (execution := self._execution(upload)) is not None and execution["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{upload.key}: its execution is still running"
            time.sleep(POLL_SECONDS)
        return execution

    def execution_arns(self, upload: SourceObject) -> list[str]:
        return execution_arns(self.outputs["StateMachineArn"], upload)

    def _execution(self, upload: SourceObject) -> dict[str, Any] | None:
        sfn = self.client("stepfunctions")
        for arn in self.execution_arns(upload):
            try:
                return sfn.describe_execution(executionArn=arn)
            except sfn.exceptions.ExecutionDoesNotExist:
                continue
        return None

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        paginator = self.client("stepfunctions").get_paginator("get_execution_history")
        return [e for page in paginator.paginate(executionArn=execution_arn) for e in page["events"]]

    def executions_named_like(self, upload: SourceObject) -> list[dict[str, Any]]:
        """The executions started during this run whose names begin like ``upload``'s (the hint that
        ``cutout.keys.execution_name`` makes of its file name): of any revision or attempt of its key."""
        hint = execution_name(upload).rsplit("-", 1)[0]
        since = self.started - CLOCK_SLACK_SECONDS
        paginator = self.client("stepfunctions").get_paginator("list_executions")
        return [
            e
            for page in paginator.paginate(stateMachineArn=self.outputs["StateMachineArn"])
            for e in page["executions"]
            if e["name"].startswith(hint) and e["startDate"].timestamp() >= since
        ]

    # -- logs and the secret -------------------------------------------------------------------------

    def log_lines(self) -> list[str]:
        """Every line in the functions' log groups (output FunctionLogGroups) since this run began."""
        paginator = self.client("logs").get_paginator("filter_log_events")
        since = int((self.started - CLOCK_SLACK_SECONDS) * 1000)
        return [
            event["message"]
            for group in self.log_groups
            for page in paginator.paginate(logGroupName=group, startTime=since)
            for event in page["events"]
        ]

    def wait_for_log(self, message: str, key: str, timeout: float = 120) -> dict[str, Any]:
        """The first structured log line with this ``message`` about object ``key``, once it is there
        (CloudWatch Logs takes a few seconds to show a Lambda's lines)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = logged(self.log_lines(), message, key)
            if lines:
                return lines[0]
            assert time.monotonic() < deadline, f"no log line {message!r} about {key} after {timeout} s"
            time.sleep(POLL_SECONDS * 4)

    def api_key(self) -> str:
        """The Novita API key in the stack's secret, read as the functions read it (cutout.apikey)."""
        provider = SecretsProvider(boto3_client=self.client("secretsmanager"))
        return ApiKey(self.outputs["NovitaApiKeySecretArn"], provider)()

    # -- clean-up ------------------------------------------------------------------------------------

    def remove_uploads(self) -> None:
        """Delete this run's uploads (every version) and their outputs."""
        s3 = self.client("s3")
        for key in dict.fromkeys(self.uploaded):
            for stored in self._stored(key):
                s3.delete_object(Bucket=self.target.output_bucket, Key=stored.key)
            listed = s3.list_object_versions(Bucket=self.target.input_bucket, Prefix=key)
            for version in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
                if version["Key"] == key:
                    s3.delete_object(Bucket=self.target.input_bucket, Key=key, VersionId=version["VersionId"])


def execution_arns(state_machine_arn: str, upload: SourceObject) -> list[str]:
    """The ARNs the execution of ``upload`` may have (``cutout.keys.execution_name``): named from its
    version id when the notification carried one, else from its ETag."""
    prefix = state_machine_arn.replace(":stateMachine:", ":execution:")
    names = {execution_name(replace(upload, version_id=v)) for v in (None, upload.version_id)}
    return [f"{prefix}:{name}" for name in sorted(names)]


def submissions(history: Iterable[dict[str, Any]]) -> list[float]:
    """When an execution submitted its image to the provider, from its history: each exit of the Send
    state whose state has a task id (a Send that rescheduled or found its upload superseded has none),
    at the time SendFunction recorded it (``submitted_at``, cutout.state.ExecutionState)."""
    times = []
    for event in history:
        details = event.get("stateExitedEventDetails", {})
        if event["type"] == "TaskStateExited" and details.get("name") == "Send":
            state = json.loads(details["output"])
            if state.get("task_id"):
                times.append(float(state["submitted_at"]))
    return times


def logged(lines: Iterable[str], message: str, key: str) -> list[dict[str, Any]]:
    """The structured lines (Powertools' JSON) with ``message`` whose ``object_key`` is ``key``."""
    found = []
    for line in lines:
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("message") == message and record.get("object_key") == key:
                found.append(record)
    return found
