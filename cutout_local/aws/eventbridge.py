"""EventBridge for the local stack, where moto 5.2.5 falls short of it.

Step Functions -> EventBridge -> Lambda: moto sends no "Step Functions Execution Status Change" events, and
its EventBridge cannot invoke a Lambda target, so :class:`StatusChanges` does both (below).

PutEvents -> rule -> SQS (the product's completion events, ``cutout.events``, to a subscriber's queue):
moto delivers to a matching rule's SQS target on the default bus and on a custom one, but not as AWS does,
so :func:`rule_delivery` replaces moto's ``Rule.send_to_targets``:

- a DISABLED rule delivers nothing (moto's delivers);
- an SQS target without ``Input``/``InputPath``/``InputTransformer`` receives the whole event as AWS sends it
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html): moto's default input
  template leaves out ``account`` and fills its fields in by text replacement, so a detail holding a text
  such as ``<id>`` or ``<time>`` (an S3 key may) came out changed;
- a Lambda target is not invoked for these events (moto raises NotImplementedError, which failed the whole
  PutEvents): it is logged at WARNING and skipped, the other targets still receive the event;
- any other target (a log group, an archive, another bus, an SQS target with an input transformation) is
  left to moto as it was.

When an execution ends (moto's ``BaseExecutionWorkerCommunication.terminated``, patched in ``patches.py``),
its event is built the way Step Functions documents it: ``source`` ``aws.states``, ``detail-type`` "Step
Functions Execution Status Change", ``resources`` the execution's ARN, and a ``detail`` holding
DescribeExecution's fields (``executionArn``, ``stateMachineArn``, ``name``, ``status``, ``startDate`` and
``stopDate`` in epoch milliseconds, ``input``, ``inputDetails``, ``output``, ``outputDetails``, and ``error``
and ``cause`` when the execution has them). It is matched against every enabled rule of the default event
bus (moto's own pattern matching), and each Lambda target of a matching rule gets it as AWS hands it over:

- EventBridge invokes the function asynchronously: the execution does not wait. Only a target that cannot
  be invoked at all (here: the function does not exist) is retried by EventBridge, per the target's
  ``RetryPolicy`` (``MaximumRetryAttempts``, ``MaximumEventAgeInSeconds``; 185 and 24 h by default), with
  exponential backoff; then the event goes to the target's ``DeadLetterConfig`` queue (message attributes
  ``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``), or is dropped.
- A function error is Lambda's to retry, as for any asynchronous invocation: twice more, one minute and then
  two minutes later; then the event goes to the function's ``DeadLetterConfig`` queue (attributes
  ``RequestID``, ``ErrorCode``, ``ErrorMessage``), or is dropped.

How it differs from AWS: only the end of an execution is sent (not the RUNNING event at its start); only
Lambda targets are served (any other is logged and skipped), without ``Input``/``InputTransformer``; each
event is delivered once per target (AWS: at least once); Lambda's retries follow its defaults (an
``EventInvokeConfig`` is not read); with ``fast`` time every retry interval is recorded in :attr:`sleeps`
instead of slept; and the event is sent when moto ends the execution, which for a StopExecution is when the
state it was in returns (AWS ends it at once), and carries no ``error``/``cause`` of the stop (moto's
StopExecution drops them).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, cast

LOG = logging.getLogger(__name__)

DETAIL_TYPE = "Step Functions Execution Status Change"
#: the fields of an event as EventBridge hands it to a target
ENVELOPE = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
_TRANSFORMS = ("Input", "InputPath", "InputTransformer")
#: Lambda's waits before its second and third attempt of an asynchronous invocation that failed
LAMBDA_RETRY_SECONDS = (60.0, 120.0)
#: EventBridge's defaults for a target without a RetryPolicy
DEFAULT_RETRY_ATTEMPTS, DEFAULT_EVENT_AGE_SECONDS = 185, 86400
_MAX_BACKOFF_SECONDS = 300.0


class StatusChanges:
    """The delivery of execution status change events to the rules' Lambda targets (see the module
    docstring). ``run(fn, event)`` runs moto's ``LambdaFunction`` (the local runtime's
    :meth:`~cutout_local.aws.lambda_runtime.ProcessRuntime.run`); every read of moto's backends and every
    dead-lettered message is done under ``lock`` (the emulator's dispatch lock), the invocation is not."""

    def __init__(
        self,
        account_id: str,
        region: str,
        run: Callable[[Any, Any], Any],
        *,
        fast: bool,
        lock: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.account_id, self.region, self.fast = account_id, region, fast
        self._run, self._lock = run, lock
        self.sent: list[dict[str, Any]] = []
        """every event built so far (matched by a rule or not), in the order the executions ended"""
        self.sleeps: list[float] = []
        """with ``fast`` time: the retry intervals that were recorded instead of slept"""
        self._pending = 0
        self._idle = threading.Condition()
        self._stopping = threading.Event()

    @contextlib.contextmanager
    def ending(self) -> Iterator[None]:
        """Wraps the end of an execution: counted as pending from before its status is visible until its
        deliveries have started, so that :meth:`settle` after seeing the status waits for them."""
        self._add(1)
        try:
            yield
        finally:
            self._add(-1)

    def execution_ended(self, execution: Any) -> None:
        """Build the event of moto's ended ``execution`` and start a delivery for each matching target."""
        if self._stopping.is_set():
            return
        event = status_change_event(execution.to_describe_output(), self.account_id, self.region)
        self.sent.append(event)
        for rule_arn, target in self._targets(event):
            self._add(1)
            threading.Thread(
                target=self._deliver, args=(rule_arn, target, event), name="local-eventbridge", daemon=True
            ).start()

    def settle(self, timeout: float = 60) -> None:
        """Wait until every delivery started so far has ended (invoked, retried, dead-lettered)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError(f"{self._pending} EventBridge deliveries still running after {timeout} s")

    def stop(self, timeout: float = 30) -> None:
        """Send nothing more (the executions aborted when the stack stops are not reported), and wait for
        the deliveries under way; a retry interval being slept is cut short."""
        self._stopping.set()
        try:
            self.settle(timeout)
        except TimeoutError:
            LOG.warning("EventBridge deliveries still running after %s s; stopping anyway", timeout)

    # -- internals ---------------------------------------------------------------------------------------

    def _add(self, n: int) -> None:
        with self._idle:
            self._pending += n
            self._idle.notify_all()

    def _targets(self, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        from moto.events.models import events_backends
        from moto.events.utils import EventMessageType

        found = []
        message = cast(EventMessageType, event)  # an EventBridge event: moto's type for one
        with self._lock():
            bus = events_backends[self.account_id][self.region].event_buses["default"]
            for rule in bus.rules.values():
                if rule.state != "ENABLED" or not rule.event_pattern.matches_event(message):
                    continue
                for target in rule.targets:
                    if ":lambda:" in target["Arn"]:
                        found.append((rule.arn, dict(target)))
                    else:
                        LOG.warning("rule %s: target %s is not emulated, skipped", rule.name, target["Arn"])
        return found

    def _deliver(self, rule_arn: str, target: dict[str, Any], event: dict[str, Any]) -> None:
        try:
            function = self._delivered(rule_arn, target, event)
            if function is not None:
                self._invoke_asynchronously(function, event)
        except Exception:  # a delivery thread must end and be counted, whatever went wrong
            LOG.exception("EventBridge delivery to %s failed", target["Arn"])
        finally:
            self._add(-1)

    def _delivered(self, rule_arn: str, target: dict[str, Any], event: dict[str, Any]) -> Any:
        """The target's function once EventBridge could hand the event over, or None when it gave up."""
        policy = target.get("RetryPolicy") or {}
        attempts = int(policy.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
        max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE_SECONDS))
        age = 0.0
        for attempt in range(attempts + 1):
            function = self._function(target["Arn"])
            if function is not None:
                return function
            backoff = min(2.0**attempt, _MAX_BACKOFF_SECONDS)
            if attempt == attempts or age + backoff > max_age or not self._sleep(backoff):
                break
            age += backoff
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        attributes = {
            "RULE_ARN": rule_arn,
            "TARGET_ARN": target["Arn"],
            "ERROR_CODE": "ResourceNotFoundException",
            "ERROR_MESSAGE": f"Function not found: {target['Arn']}",
        }
        self._dead_letter(
            dead_letter, event, attributes, f"rule {rule_arn} could not deliver to {target['Arn']}"
        )
        return None

    def _invoke_asynchronously(self, function: Any, event: dict[str, Any]) -> None:
        invocation = None
        for wait in (0.0, *LAMBDA_RETRY_SECONDS):
            if wait and not self._sleep(wait):
                return
            invocation = self._run(function, event)
            if invocation.error is None:
                return
        assert invocation is not None
        dead_letter = (getattr(function, "dead_letter_config", None) or {}).get("TargetArn")
        attributes = {
            "RequestID": invocation.request_id,
            "ErrorCode": "200",  # the Invoke itself succeeded; the function returned an error
            "ErrorMessage": str(invocation.error)[:1024],
        }
        self._dead_letter(dead_letter, event, attributes, f"{function.function_name} failed 3 times")

    def _function(self, arn: str) -> Any:
        from moto.awslambda.exceptions import UnknownFunctionException
        from moto.awslambda.utils import get_backend

        with self._lock():
            try:
                return get_backend(self.account_id, self.region).get_function(arn)
            except UnknownFunctionException:
                return None

    def _dead_letter(
        self, queue_arn: str | None, event: dict[str, Any], attributes: dict[str, str], why: str
    ) -> None:
        if not queue_arn:
            LOG.error("%s; no dead-letter queue: event %s dropped", why, event["id"])
            return
        from moto.sqs.models import sqs_backends

        LOG.error("%s; event %s sent to %s", why, event["id"], queue_arn)
        with self._lock():
            sqs_backends[self.account_id][self.region].send_message(
                queue_arn.rsplit(":", 1)[-1],
                json.dumps(event),
                message_attributes={
                    k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
                },
            )

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` (recorded instead with fast time); False when the delivery is to stop."""
        if self.fast:
            self.sleeps.append(seconds)
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)


def status_change_event(described: dict[str, Any], account_id: str, region: str) -> dict[str, Any]:
    """The EventBridge event of an execution, from its DescribeExecution output (boto3's or moto's)."""
    output = described.get("output")
    detail: dict[str, Any] = {
        "executionArn": described["executionArn"],
        "stateMachineArn": described["stateMachineArn"],
        "name": described["name"],
        "status": str(getattr(described["status"], "value", described["status"])),
        "startDate": _millis(described["startDate"]),
        "stopDate": _millis(described.get("stopDate")),
        "input": described.get("input"),
        "inputDetails": {"included": True},
        "output": output,
        "outputDetails": {"included": True} if output is not None else None,
    }
    for field in ("error", "cause"):
        if described.get(field) is not None:
            detail[field] = described[field]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.states",
        "account": account_id,
        "time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [described["executionArn"]],
        "detail": detail,
    }


def _millis(moment: datetime.datetime | None) -> int | None:
    """Epoch milliseconds, truncated as the API's timestamps are."""
    return None if moment is None else int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def rule_delivery(original: Callable[..., None]) -> Callable[..., None]:
    """moto's ``Rule.send_to_targets`` as EventBridge delivers (see the module docstring); ``original`` is
    moto's, kept for the targets it serves as AWS does."""

    def send_to_targets(rule: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        if rule.state != "ENABLED" or not rule.event_pattern.matches_event(event):
            return
        left_to_moto = []
        for target in rule.targets:
            arn = target["Arn"]
            if ":sqs:" in arn and not any(field in target for field in _TRANSFORMS):
                group = (target.get("SqsParameters") or {}).get("MessageGroupId")
                # moto's own sender: it writes the epoch-seconds time as EventBridge does (whole seconds, Z)
                rule._send_to_sqs_queue(arn.rsplit(":", 1)[-1], {k: event[k] for k in ENVELOPE}, group)
            elif ":lambda:" in arn:
                LOG.warning(
                    "rule %s: event %s (%s) not delivered to Lambda target %s: not emulated for PutEvents",
                    rule.name,
                    event["id"],
                    event["detail-type"],
                    arn,
                )
            else:
                left_to_moto.append(target)
        if left_to_moto:
            every_target = rule.targets
            rule.targets = left_to_moto  # under the emulator's dispatch lock: no other request sees it
            try:
                original(rule, event, transform_input)
            finally:
                rule.targets = every_target

    return send_to_targets
