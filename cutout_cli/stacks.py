"""Which pipeline a command talks to, and everything about it read from the stack itself: its outputs
(buckets, queues, state machines, event bus) and its prefixes (SubmitFunction's environment, as it runs).

``--stack NAME`` (or ``CUTOUT_STACK``) is a deployed CloudFormation stack, reached with the AWS CLI's
region and profile (``--region``, ``--profile``, or the environment). Without it, the local stack that
``make up`` runs: it announces itself in a file (:func:`announce_local`) that names its endpoint, and takes
it away when it stops."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from cutout.reprocessing import Target

#: Exit statuses a script can tell apart (0: all done; 2: a usage error, as Click reports it).
FAILED = 1  # the command ran, and at least one upload has a failure record
NOT_FOUND = 3  # no such stack, nothing running locally, no such upload or outcome
AWS_REFUSED = 4  # no credentials, access denied, or another error from AWS
TIMED_OUT = 5  # --timeout passed before every outcome landed
INTERRUPTED = 130  # Ctrl-C

#: Where ``make up`` announces the local stack (override: CUTOUT_LOCAL_STACK_FILE).
LOCAL_STACK_FILE = "CUTOUT_LOCAL_STACK_FILE"
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


class CliError(Exception):
    """What ends a command, in one line, with the exit status scripts see."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def local_stack_file() -> Path:
    default = Path(tempfile.gettempdir()) / f"cutout-local-stack-{os.getuid()}.json"
    return Path(os.environ.get(LOCAL_STACK_FILE) or default)


def announce_local(endpoint_url: str, stack_name: str, region: str) -> Path:
    """Say where the local stack runs (``make up``, while it runs): the file :func:`resolve` reads."""
    path = local_stack_file()
    record = {"endpoint_url": endpoint_url, "stack": stack_name, "region": region, "pid": os.getpid()}
    path.write_text(json.dumps(record))
    return path


def withdraw_local(path: Path) -> None:
    """The local stack has stopped: the file goes, if it is still this process's."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


@dataclass
class Stack:
    """A pipeline: name, session, outputs and prefixes; :meth:`client` for its AWS services."""

    name: str
    session: boto3.Session
    outputs: dict[str, str]
    environment: dict[str, str]
    endpoint_url: str | None = None  # the local stack's; None on AWS
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def local(self) -> bool:
        return self.endpoint_url is not None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            make: Any = self.session.client  # typed per service name, this takes any
            self._clients[service] = make(service, endpoint_url=self.endpoint_url, config=_CONFIG)
        return self._clients[service]

    def output(self, name: str) -> str:
        try:
            return self.outputs[name]
        except KeyError:
            raise CliError(
                f"stack {self.name} has no output {name}: deploy this version of the template first",
                NOT_FOUND,
            ) from None

    # cutout.keys.Layout, and what a reprocess request needs (cutout.reprocessing.Target)
    @property
    def input_bucket(self) -> str:
        return self.output("InputBucketName")

    @property
    def output_bucket(self) -> str:
        return self.output("OutputBucketName")

    @property
    def input_prefix(self) -> str:
        return self.environment.get("INPUT_PREFIX", "")

    @property
    def output_prefix(self) -> str:
        return self.environment["OUTPUT_PREFIX"]

    @property
    def failure_prefix(self) -> str:
        return self.environment["FAILURE_PREFIX"]

    @property
    def variant_prefix(self) -> str:
        return self.environment.get("VARIANT_PREFIX", "variants/")

    @property
    def accepted_suffixes(self) -> tuple[str, ...]:
        return tuple(s.strip().lower() for s in self.environment.get("ACCEPTED_SUFFIXES", "").split(",") if s)

    def target(self) -> Target:
        return Target(
            queue_url=self.output("IngestQueueUrl"),
            input_bucket=self.input_bucket,
            output_bucket=self.output_bucket,
            input_prefix=self.input_prefix,
            output_prefix=self.output_prefix,
            failure_prefix=self.failure_prefix,
            variant_prefix=self.variant_prefix,
        )

    def upload_key(self, key: str) -> str:
        """An upload's key as a person may write it: with or without the input prefix."""
        return key if key.startswith(self.input_prefix) else f"{self.input_prefix}{key.lstrip('/')}"


def resolve(stack: str | None, region: str | None, profile: str | None) -> Stack:
    """The deployed stack ``stack``, or else the local stack that runs now; CliError when there is none."""
    with aws_errors():
        if stack:
            try:
                session = boto3.Session(profile_name=profile, region_name=region)
            except ProfileNotFound as exc:
                message = f"no AWS profile {profile!r} (see `aws configure list-profiles`)"
                raise CliError(message, AWS_REFUSED) from exc
            if not session.region_name:
                message = "no AWS region: give --region, or set AWS_REGION or a profile's region"
                raise CliError(message, AWS_REFUSED)
            return _read_stack(stack, session, None)
        local = _local()
        try:
            return connect(local["endpoint_url"], local["stack"], local["region"])
        except EndpointConnectionError as exc:  # it stopped without saying so
            raise _nothing_local(f"nothing answers at {local['endpoint_url']}") from exc


def connect(endpoint_url: str, stack: str, region: str) -> Stack:
    """The stack ``stack`` of the local emulator at ``endpoint_url``."""
    # the emulator takes any credentials; these never reach AWS (the endpoint is the emulator's)
    session = boto3.Session(
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106
        region_name=region,
    )
    return _read_stack(stack, session, endpoint_url)


def _local() -> dict[str, Any]:
    path = local_stack_file()
    try:
        local: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise _nothing_local() from None
    except (OSError, ValueError) as exc:
        raise _nothing_local(f"{path} is unreadable: {exc}") from exc
    try:
        os.kill(int(local["pid"]), 0)
    except ProcessLookupError:
        raise _nothing_local("the last `make up` ended") from None
    except PermissionError:
        pass  # alive, another user's
    return local


def _nothing_local(why: str = "") -> CliError:
    detail = f" ({why})" if why else ""
    return CliError(
        f"no stack: nothing is running locally{detail}. Start the local stack with `make up`, "
        "or name a deployed one with --stack NAME (or CUTOUT_STACK)",
        NOT_FOUND,
    )


def _read_stack(name: str, session: boto3.Session, endpoint_url: str | None) -> Stack:
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url, config=_CONFIG)
    try:
        described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise CliError(f"no stack {name} in {session.region_name}", NOT_FOUND) from exc
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    [function] = [
        resource["PhysicalResourceId"]
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
        for resource in page["StackResourceSummaries"]
        if resource["LogicalResourceId"] == "SubmitFunction"
    ]
    lambda_ = session.client("lambda", endpoint_url=endpoint_url, config=_CONFIG)
    configuration = lambda_.get_function_configuration(FunctionName=function)
    environment = configuration.get("Environment", {}).get("Variables", {})
    return Stack(name, session, outputs, environment, endpoint_url)


@contextmanager
def aws_errors() -> Iterator[None]:
    """AWS's refusals as one line each (CliError with AWS_REFUSED), not a traceback."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise CliError(
            "no AWS credentials: run `aws configure` or `aws sso login`, set AWS_PROFILE, or give --profile",
            AWS_REFUSED,
        ) from exc
    except NoRegionError as exc:
        raise CliError("no AWS region: give --region, or set AWS_REGION", AWS_REFUSED) from exc
    except EndpointConnectionError as exc:
        raise CliError(f"cannot reach {exc.kwargs.get('endpoint_url', 'AWS')}", AWS_REFUSED) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", str(exc))
        operation = getattr(exc, "operation_name", "a request")
        raise CliError(f"AWS refused {operation}: {code}: {message}", AWS_REFUSED) from exc
    except BotoCoreError as exc:
        raise CliError(f"AWS: {exc}", AWS_REFUSED) from exc
