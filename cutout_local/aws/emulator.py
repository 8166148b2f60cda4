"""``LocalAws``: the real SAM template and ASL, deployed on emulated AWS (moto) in this process; the Lambda
functions run in execution environments of their own (child processes); ended executions send their
EventBridge status change events to the rules' Lambda targets (eventbridge.py)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from cutout_local.aws import patches, sam
from cutout_local.aws.eventbridge import StatusChanges
from cutout_local.aws.lambda_runtime import DEFAULT_MAX_ENVIRONMENTS, Invocation, ProcessRuntime
from cutout_local.aws.moto_server import DispatchLock, SerialMotoServer
from cutout_local.aws.sqs_poller import SqsPoller

ACCOUNT_ID = "123456789012"  # moto's default account
_CLIENTS = threading.Lock()
#: how often wait_for_executions looks: 5 ms per running execution (one ListExecutions entry costs moto about
#: 0.25 ms), within these bounds
_LOOK_SECONDS_MIN, _LOOK_SECONDS_PER_RUNNING, _LOOK_SECONDS_MAX = 0.05, 0.005, 1.0
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
_UNSET = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")
#: loggers too noisy for a test run or a demo: every failed state, every request, the translator's metrics
_QUIET = {
    "moto.stepfunctions.parser": logging.CRITICAL,
    "werkzeug": logging.ERROR,
    "samtranslator.metrics.metrics": logging.ERROR,
}


class DeployError(Exception):
    """The emulator failed while creating the stack (its own exception is in the message)."""


class _ServerErrors(logging.Handler):
    """Collects the tracebacks that the emulator's HTTP server logs for a request that failed with a 500
    (the client only gets an HTML error page). Werkzeug logs them just *after* sending the response."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Error on request"):
            self.errors.append(message)

    def since(self, seen: int, wait: float = 2.0) -> str:
        deadline = time.monotonic() + wait
        while len(self.errors) <= seen and time.monotonic() < deadline:
            time.sleep(0.02)
        return "\n".join(self.errors[seen:]) or "(no traceback from the emulator)"


class LocalAws:
    """The stack of ``template`` on moto, served over HTTP at :attr:`endpoint_url`; its Lambda functions run
    concurrently, each execution environment a child process (``lambda_runtime.py``), and moto handles one
    request at a time, so that each AWS call is atomic as on AWS (``moto_server.py``).

    Use it as a context manager, or call :meth:`start` and :meth:`stop` (a long-running process). Only one
    may run at a time in a process (the patches and ``os.environ`` are process-wide); one after another is
    fine. :meth:`stop` ends every environment, also when the block ends with an exception.

    While it runs, the process environment points every boto3 client at the emulator (``AWS_ENDPOINT_URL``,
    fake credentials, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``MOTO_PORT``); :meth:`stop` restores it. The
    functions' environments get the endpoint and the credentials too.

    - ``parameters``: the template's parameters (values are passed as strings; ``None`` means the default).
    - ``fast_waits``: Wait states and Retry intervals return at once (the seconds are recorded in
      :attr:`waits` and :attr:`retry_sleeps`), and an SQS message whose processing failed is visible again
      at once instead of after the queue's ``VisibilityTimeout``; so do the EventBridge and asynchronous
      Lambda retries of a status change event (recorded in ``status_changes.sleeps``). The seconds a Wait
      skips do not count towards the state machine's ``TimeoutSeconds``, which moto enforces in real
      time.
    - ``execution_timeout_seconds``: replaces the ``TimeoutSeconds`` of the stack's state machines once
      deployed (the product's backstop is 30 days; a test reaches a smaller one in seconds).
    - ``port``: 0 picks a free one.
    - ``sqs_poll_seconds``: also poll the queues with an event source mapping every so many seconds, as the
      Lambda service does; ``None`` (default, deterministic for tests) polls only on :meth:`redeliver`.
      A new message is always delivered when it arrives.
    - ``max_environments_per_function``: how many execution environments a function without
      ``ReservedConcurrentExecutions`` may have at once (past it, an invocation waits for one to be free),
      and how many SQS batches a mapping without ``ScalingConfig.MaximumConcurrency`` has in flight.
    """

    def __init__(
        self,
        template: str | Path = "template.yaml",
        parameters: dict[str, Any] | None = None,
        *,
        fast_waits: bool = True,
        port: int = 0,
        stack_name: str = "cutout",
        region: str = "us-east-1",
        sqs_poll_seconds: float | None = None,
        artifact_bucket: str = "cutout-local-artifacts",
        max_environments_per_function: int = DEFAULT_MAX_ENVIRONMENTS,
        execution_timeout_seconds: int | None = None,
    ) -> None:
        self.template = Path(template)
        self.parameters = dict(parameters or {})
        self.fast_waits, self.port, self.region = fast_waits, port, region
        self.stack_name, self.artifact_bucket = stack_name, artifact_bucket
        self.sqs_poll_seconds = sqs_poll_seconds
        self.max_environments_per_function = max_environments_per_function
        self.execution_timeout_seconds = execution_timeout_seconds
        self.endpoint_url = ""
        self.outputs: dict[str, str] = {}
        self.resources: dict[str, str] = {}
        """logical id -> physical id of every resource of the stack"""
        self.ignored: list[str] = []
        """``Type.Property: reason`` for what the template uses and the emulation accepts without effect"""
        self.waits: list[float] = []
        self.retry_sleeps: list[float] = []
        self.deploy_seconds = 0.0
        self._runtime: ProcessRuntime | None = None
        self._poller: SqsPoller | None = None
        self.status_changes: StatusChanges | None = None
        """the EventBridge status change events of ended executions (``sent``) and their delivery"""
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_levels: dict[str, int] = {}
        self._saved_sfn_config: Any = None
        self._patched = False
        self._server_errors = _ServerErrors()
        self._state_machine_arns: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalAws:
        """Start the emulator, install the patches and deploy the stack. On failure everything is undone."""
        from moto.core.config import default_user_config

        try:
            # Fake credentials and no profile before anything imports moto, whose modules make boto3
            # sessions at import (a profile that exists only on a developer's machine would fail them).
            self._set_env({**_CREDENTIALS, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region})
            lock = DispatchLock()
            self._runtime = ProcessRuntime(
                max_environments_per_function=self.max_environments_per_function,
                released=lock.released,
                lock=lambda: lock,
            )
            self._poller = SqsPoller(
                ACCOUNT_ID,
                self.region,
                fail_fast=self.fast_waits,
                poll_seconds=self.sqs_poll_seconds,
                default_concurrency=self.max_environments_per_function,
                lock=lambda: lock,
            )
            self.status_changes = StatusChanges(
                ACCOUNT_ID, self.region, self._runtime.run, fast=self.fast_waits, lock=lambda: lock
            )
            timing = (self.waits, self.retry_sleeps) if self.fast_waits else (None, None)
            patches.install(
                patches.patch_points(
                    self._runtime.invoke,
                    self._deliver,
                    lock.released,
                    self.status_changes,
                    waits=timing[0],
                    retry_sleeps=timing[1],
                )
            )
            self._patched = True
            for name, level in _QUIET.items():
                self._saved_levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(level)
            logging.getLogger("werkzeug").addHandler(self._server_errors)
            self._server = SerialMotoServer(lock, ip_address="127.0.0.1", port=self.port)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.port, self.endpoint_url = port, f"http://{host}:{port}"
            endpoint = {**_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url}
            self._runtime.emulator_environment = endpoint
            self._set_env(
                {
                    **endpoint,
                    "AWS_DEFAULT_REGION": self.region,
                    "AWS_REGION": self.region,
                    "MOTO_PORT": str(port),
                }
            )
            self._saved_sfn_config = default_user_config.get("stepfunctions")
            self._moto_api("reset")
            self._moto_api("config", {"stepfunctions": {"execute_state_machine": True}})
            self._poller.start()
            self._deploy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the SQS poller (after the batches it holds) and the EventBridge deliveries (after those under
        way), abort running executions, end every Lambda environment, reset moto, stop the server, and undo
        the patches and the environment. Safe to call more than once."""
        try:
            if self._poller is not None:
                self._poller.stop()
                self._poller = None
            if self.status_changes is not None:
                self.status_changes.stop()
            if self._server is not None:
                self._abort_executions()
        finally:
            if self._runtime is not None:
                self._runtime.close()  # whatever happened above: no environment outlives the stack
        if self._server is not None:
            self._moto_api("reset")
            self._server.stop()
            self._server = None
        if self._saved_sfn_config is not None:
            from moto.core.config import default_user_config

            default_user_config["stepfunctions"] = self._saved_sfn_config
            self._saved_sfn_config = None
        if self._patched:
            patches.uninstall()
            self._patched = False
        logging.getLogger("werkzeug").removeHandler(self._server_errors)
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_levels.clear()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    # -- what callers use --------------------------------------------------------------------------------

    @property
    def server_errors(self) -> list[str]:
        """Tracebacks of the exceptions the emulator raised while handling requests (each was a 500)."""
        return self._server_errors.errors

    @property
    def invocations(self) -> list[Invocation]:
        """Every Lambda invocation so far, in the order they ended."""
        return list(self._runtime.invocations) if self._runtime else []

    @property
    def function_logs(self) -> list[str]:
        """Every line the functions printed or logged so far (each invocation's lines together, in the
        order the invocations ended), as their log streams hold them: each function's are also in the
        emulated CloudWatch Logs, in its log group (``lambda_runtime``)."""
        return [line for i in self.invocations for line in i.logs.splitlines()]

    def lambda_pids(self) -> list[int]:
        """The process ids of the Lambda execution environments alive now."""
        return self._runtime.pids() if self._runtime else []

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client bound to the emulator, with fake credentials. Safe to call from several threads
        (boto3's default session is not; the client made is)."""
        with _CLIENTS:
            return boto3.client(  # type: ignore[call-overload]  # any service by name
                service,
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                **kwargs,
            )

    def settle(self, timeout: float = 60) -> None:
        """Wait until every SQS batch handed to the poller so far has been processed, and every status
        change event of the executions ended so far has been delivered (or dead-lettered)."""
        if self._poller is not None:
            self._poller.settle(timeout)
        if self.status_changes is not None:
            self.status_changes.settle(timeout)

    def redeliver(self, timeout: float = 60) -> int:
        """One turn of the Lambda poller: receive what is visible on every queue with an event source
        mapping, invoke, and wait for it. moto has no poller of its own, so a message that failed comes back
        only through this, through ``sqs_poll_seconds``, or when a new message arrives. Returns the number
        of messages received."""
        assert self._poller is not None, "LocalAws is not running"
        self.settle(timeout)
        count = self._poller.poll()
        self.settle(timeout)
        return count

    def wait_for_executions(self, n: int | None = None, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until the SQS deliveries have settled, at least ``n`` executions of the stack's state machines
        exist and none is running, and their status change events are delivered; return their
        ``describe_execution`` dicts, oldest first.

        Each look costs the emulator time in proportion to the executions it lists, under the request lock
        that the stack's own calls need: while executions run it lists only the running ones, and looks
        again after :data:`_LOOK_SECONDS_PER_RUNNING` per running execution (at least
        :data:`_LOOK_SECONDS_MIN`, at most :data:`_LOOK_SECONDS_MAX`)."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            self.settle(max(0.1, deadline - time.monotonic()))
            running = [e["name"] for e in self._list_executions(sfn, statusFilter="RUNNING")]
            executions = [] if running else self._list_executions(sfn)
            if not running and len(executions) >= (n or 0):
                self.settle(max(0.1, deadline - time.monotonic()))  # their status change deliveries
                described = [sfn.describe_execution(executionArn=e["executionArn"]) for e in executions]
                for d in described:
                    d.pop("ResponseMetadata", None)
                return sorted(described, key=lambda d: d["startDate"])
            if time.monotonic() > deadline:
                found = len(executions) if not running else f"{len(running)} running and more"
                raise TimeoutError(f"after {timeout} s: {found} executions (wanted {n}), running: {running}")
            look = len(running) * _LOOK_SECONDS_PER_RUNNING
            time.sleep(min(_LOOK_SECONDS_MAX, max(_LOOK_SECONDS_MIN, look)))

    def _list_executions(self, sfn: Any, **filters: Any) -> list[dict[str, Any]]:
        return [
            e
            for arn in self._state_machine_arns
            for e in _paginate(sfn, "list_executions", "executions", stateMachineArn=arn, **filters)
        ]

    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        return _paginate(
            self.client("stepfunctions"), "get_execution_history", "events", executionArn=execution_arn
        )

    # -- internals ---------------------------------------------------------------------------------------

    def _deliver(self, backend: Any, function_arn: str, messages: list[Any], queue_arn: str) -> bool:
        assert self._poller is not None
        return self._poller.deliver(backend, function_arn, messages, queue_arn)

    def _deploy(self) -> None:
        started = time.monotonic()
        packaged = sam.package(
            sam.load_template(self.template), self.template.parent, self.client("s3"), self.artifact_bucket
        )
        translated = sam.translate(packaged, self.parameters, self.region)
        self.ignored = sam.ignored_properties(translated)
        cfn = self.client("cloudformation", config=Config(retries={"total_max_attempts": 1}))
        seen = len(self.server_errors)
        try:
            stack = sam.create_stack(translated, cfn, self.stack_name, self.parameters)
        except (ClientError, ResponseParserError) as exc:
            raise DeployError(f"{exc}\n{self._server_errors.since(seen)}") from exc
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        resources = _paginate(
            cfn, "list_stack_resources", "StackResourceSummaries", StackName=self.stack_name
        )
        self.resources = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        assert self._runtime is not None
        self._runtime.logical_ids = {
            r["PhysicalResourceId"]: r["LogicalResourceId"]
            for r in resources
            if r["ResourceType"] == "AWS::Lambda::Function"
        }
        self._state_machine_arns = [
            r["PhysicalResourceId"]
            for r in resources
            if r["ResourceType"] == "AWS::StepFunctions::StateMachine"
        ]
        if self.execution_timeout_seconds is not None:
            self._set_execution_timeout(self.execution_timeout_seconds)
        self.deploy_seconds = time.monotonic() - started

    def _set_execution_timeout(self, seconds: int) -> None:
        sfn = self.client("stepfunctions")
        for arn in self._state_machine_arns:
            definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
            definition["TimeoutSeconds"] = seconds
            sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))

    def _abort_executions(self) -> None:
        try:
            sfn = self.client("stepfunctions")
            for machine in _paginate(sfn, "list_state_machines", "stateMachines"):
                arn = machine["stateMachineArn"]
                for e in _paginate(
                    sfn, "list_executions", "executions", stateMachineArn=arn, statusFilter="RUNNING"
                ):
                    sfn.stop_execution(executionArn=e["executionArn"], cause="LocalAws stopped")
        except Exception:  # stopping must go on: the server may be half up
            logging.getLogger(__name__).exception("could not abort running executions")

    def _set_env(self, values: dict[str, str]) -> None:
        for key in [*values, *_UNSET]:
            self._saved_env.setdefault(key, os.environ.get(key))
        for key in _UNSET:
            os.environ.pop(key, None)
        os.environ.update(values)

    def _moto_api(self, path: str, body: dict[str, Any] | None = None) -> None:
        request = urllib.request.Request(  # noqa: S310 - our own local server over http
            f"{self.endpoint_url}/moto-api/{path}", data=json.dumps(body or {}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - as above
            response.read()


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]
