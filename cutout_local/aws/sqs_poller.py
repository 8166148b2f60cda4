"""SQS -> Lambda event source mappings, delivered the way the Lambda service's poller does it.

moto 5.2.5 has no poller. When a message is sent, ``Queue.add_message`` receives up to ``BatchSize`` visible
messages for each enabled mapping and calls ``LambdaBackend.send_sqs_batch``, which invokes the function once
*per message*, inside the ``SendMessage`` (or S3 ``PutObject``) request, fakes ``ApproximateReceiveCount``,
and deletes the messages a function reported in ``batchItemFailures``. :meth:`SqsPoller.deliver` replaces
``send_sqs_batch`` (see ``patches.py``): it hands the received batch over and returns at once. Batches are
delivered concurrently, like the Lambda service's pollers do: each mapping has up to ``MaximumConcurrency``
batches in flight (its ``ScalingConfig``, read at each delivery), or when it has none,
``default_concurrency`` (``LocalAws`` passes its environments per function: more could only wait for a
free environment). A batch beyond that waits for one of the mapping's batches to finish (in flight since
moto received it: its visibility timeout runs meanwhile). For each batch a delivery thread

- invokes the function once with the whole batch (real ``ApproximateReceiveCount``, ``SentTimestamp``,
  ``md5OfBody``, message attributes),
- deletes the messages that succeeded: all of them, or with ``ReportBatchItemFailures`` all but the reported
  ones (an unreadable response or an unknown ``itemIdentifier`` fails the whole batch, as on AWS),
- leaves the failed ones to come back: after the queue's ``VisibilityTimeout``, as on AWS, or at once when
  ``fail_fast`` (fast time). The redrive policy moves a message to its DLQ on the receive after
  ``maxReceiveCount``, as on AWS (moto does that part).

Nothing receives a message that came back unless something polls: :meth:`poll` (``LocalAws.redeliver``) does
one receive round, and ``poll_seconds`` runs one every so many seconds on a thread (a long-running stack).
Because delivery is asynchronous, callers wait for it with :meth:`settle`. Every call into moto's SQS
backend is made under ``lock`` (the emulator's dispatch lock, see ``moto_server.py``); the invocation is not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger(__name__)

#: batches in flight per mapping without a ScalingConfig (LocalAws passes its environments per function)
DEFAULT_CONCURRENCY = 8


@dataclass
class _Mapping:
    """The batches of one (function, queue) mapping waiting for a delivery thread, and the threads."""

    waiting: deque[list[Any]] = field(default_factory=deque)
    running: int = 0


class SqsPoller:
    """The delivery of SQS batches to their functions (see the module docstring)."""

    def __init__(
        self,
        account_id: str,
        region: str,
        *,
        fail_fast: bool,
        poll_seconds: float | None,
        default_concurrency: int = DEFAULT_CONCURRENCY,
        lock: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.account_id, self.region = account_id, region
        self.fail_fast, self.poll_seconds = fail_fast, poll_seconds
        self.default_concurrency = default_concurrency
        self._lock = lock
        self._mappings: dict[tuple[str, str], _Mapping] = {}
        self._pending = 0
        """batches handed over and not yet processed (waiting or in flight)"""
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._timer: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        if self.poll_seconds is not None:
            self._timer = threading.Thread(target=self._poll_regularly, name="local-sqs-poller", daemon=True)
            self._timer.start()

    def stop(self, timeout: float = 30) -> None:
        """Stop polling, and wait (up to ``timeout``) for the batches handed over so far. Batches handed
        over later are left in flight: they come back after their visibility timeout."""
        self._stopping.set()
        if self._timer is not None:
            self._timer.join(timeout)
            self._timer = None
        try:
            self.settle(timeout)
        except TimeoutError:
            LOG.warning("SQS deliveries still running after %s s; stopping anyway", timeout)

    def deliver(self, lambda_backend: Any, function_arn: str, messages: list[Any], queue_arn: str) -> bool:
        """Replacement for ``LambdaBackend.send_sqs_batch``. Empties ``messages`` so that moto's caller
        deletes none of them: the delivery thread deletes what succeeded once the function has run."""
        if messages and not self._stopping.is_set():
            key = (function_arn, queue_arn)
            limit = self._concurrency(function_arn, queue_arn)
            with self._idle:
                self._pending += 1
                mapping = self._mappings.setdefault(key, _Mapping())
                mapping.waiting.append(list(messages))
                start = mapping.running < limit
                if start:
                    mapping.running += 1
            if start:
                threading.Thread(
                    target=self._deliver_batches, args=(key,), name="local-sqs-delivery", daemon=True
                ).start()
        messages.clear()
        return True

    def poll(self) -> int:
        """One receive round for every enabled SQS mapping, like one turn of the Lambda poller: the
        messages visible now are received in batches of ``BatchSize`` and handed over; returns their
        number."""
        from moto.sqs.models import sqs_backends

        sqs = sqs_backends[self.account_id][self.region]
        handed = 0
        with self._lock():
            for q in list(sqs.queues.values()):
                for function_arn, esm in list(q.lambda_event_source_mappings.items()):
                    budget = len(q.messages) if esm.enabled else 0
                    while budget > 0:
                        # moto's Queue sets it with setattr, undeclared (moto's own code ignores this too)
                        timeout = q.visibility_timeout  # type: ignore[attr-defined]  # set by setattr
                        messages = sqs.receive_message(q.name, min(budget, esm.batch_size or 10), 0, timeout)
                        if not messages:
                            break
                        budget -= len(messages)
                        handed += len(messages)
                        self.deliver(None, function_arn, messages, q.queue_arn)
        return handed

    def settle(self, timeout: float = 60) -> None:
        """Wait until every batch handed over so far has been processed."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError(f"SQS deliveries still running after {timeout} s")

    def _concurrency(self, function_arn: str, queue_arn: str) -> int:
        """The mapping's ``ScalingConfig.MaximumConcurrency``, else :attr:`default_concurrency`."""
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[self.account_id][self.region].queues.get(queue_arn.rsplit(":", 1)[-1])
        esm = queue.lambda_event_source_mappings.get(function_arn) if queue is not None else None
        scaling = (getattr(esm, "scaling_config", None) or {}) if esm is not None else {}
        maximum = scaling.get("MaximumConcurrency")
        return max(1, int(maximum)) if maximum else self.default_concurrency

    def _deliver_batches(self, key: tuple[str, str]) -> None:
        """One delivery thread of a mapping: its waiting batches, one after another, until there are none."""
        function_arn, queue_arn = key
        while True:
            with self._idle:
                mapping = self._mappings[key]
                if not mapping.waiting:
                    mapping.running -= 1
                    return
                messages = mapping.waiting.popleft()
            try:
                self._safely(self._process, function_arn, messages, queue_arn)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _poll_regularly(self) -> None:
        assert self.poll_seconds is not None
        while not self._stopping.wait(self.poll_seconds):
            self._safely(self.poll)

    def _safely(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # the poller must survive anything a delivery does
            LOG.exception("SQS delivery failed")

    def _process(self, function_arn: str, messages: list[Any], queue_arn: str) -> None:
        from moto.awslambda.utils import get_backend
        from moto.sqs.models import sqs_backends

        lambda_backend = get_backend(self.account_id, self.region)
        sqs = sqs_backends[self.account_id][self.region]
        queue_name = queue_arn.rsplit(":", 1)[-1]
        event = {"Records": [_record(m, queue_arn, self.region) for m in messages]}
        response_headers: dict[str, Any] = {}
        payload = lambda_backend.invoke(
            function_name=function_arn, qualifier=None, body=json.dumps(event), headers={},
            response_headers=response_headers,
        )  # fmt: skip
        with self._lock():
            if "x-amz-function-error" in response_headers:
                failed = {m.id for m in messages}
            else:
                esm = sqs.get_queue(queue_name).lambda_event_source_mappings.get(function_arn)
                reports = esm is not None and "ReportBatchItemFailures" in (esm.function_response_types or [])
                failed = _reported_failures(payload, {m.id for m in messages}) if reports else set()
            for m in messages:
                if m.id not in failed:
                    sqs.delete_message(queue_name, m.receipt_handle)
                elif self.fail_fast:
                    sqs.change_message_visibility(queue_name, m.receipt_handle, visibility_timeout=0)


def _reported_failures(payload: Any, ids: set[str]) -> set[str]:
    """The message ids a ``ReportBatchItemFailures`` response names; all of ``ids`` when it is malformed."""
    try:
        response = json.loads(payload or "null")
        if response is None:
            return set()
        items = response.get("batchItemFailures") or []
        failed = {item["itemIdentifier"] for item in items}
    except (ValueError, TypeError, KeyError, AttributeError):
        return ids
    return failed if failed <= ids else ids


def _record(m: Any, queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {
        "ApproximateReceiveCount": str(m.approximate_receive_count),
        "SentTimestamp": str(m.sent_timestamp),
        "SenderId": str(m.sender_id),
        "ApproximateFirstReceiveTimestamp": str(m.approximate_first_receive_timestamp),
    }
    if m.group_id:
        attributes.update(MessageGroupId=m.group_id, MessageDeduplicationId=m.deduplication_id or "")
    return {
        "messageId": m.id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": attributes,
        "messageAttributes": {
            name: {
                "dataType": a["DataType"],
                "stringValue": a.get("StringValue"),
                "binaryValue": a.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
            }
            for name, a in m.message_attributes.items()
        },
        "md5OfBody": m.body_md5,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
