"""SendFunction's work, the execution's first task: when the execution's submission slot has come,
presign the upload and submit it to the provider, once per object version (Powertools Idempotency,
so a retried or repeated invocation never submits twice). A 429 reschedules the execution instead of
failing it, and moves the shared schedule back by the provider's Retry-After."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from cutout.errors import ProviderThrottledError
from cutout.novita import NovitaClient
from cutout.observability import logger, metrics
from cutout.pacing import SubmissionPacer
from cutout.settings import Settings
from cutout.state import ExecutionState, Slot, SourceObject

# A Wait state counts whole seconds: up to this much of the way to the slot is slept here.
MAX_SLOT_SLEEP_SECONDS = 1.5


class Sender:
    def __init__(
        self,
        *,
        settings: Settings,
        s3: Any,
        novita: NovitaClient,
        pacer: SubmissionPacer,
        persistence: BasePersistenceLayer,
        idempotency: IdempotencyConfig,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._novita = novita
        self._pacer = pacer
        self._clock = clock
        self._sleep = sleep
        self._submit_once = idempotent_function(
            data_keyword_argument="source", persistence_store=persistence, config=idempotency
        )(self._submit)

    def send(self, state: ExecutionState) -> ExecutionState:
        """The state submitted (task id and time set), or rescheduled to a new slot to wait for."""
        slot_at, now = state.slot.at, self._clock()
        early = slot_at - now
        if early > MAX_SLOT_SLEEP_SECONDS:
            return state.rescheduled(Slot.due(slot_at, now))
        if early > 0:
            self._sleep(early)
        try:
            submitted = self._submit_once(source=state.source.to_dict())
        except ProviderThrottledError as exc:
            return state.rescheduled(self._reschedule(exc))
        logger.append_keys(task_id=submitted["task_id"])
        logger.info("submitted to the provider")
        return state.submitted(submitted["task_id"], submitted["submitted_at"])

    def _submit(self, source: dict[str, Any]) -> dict[str, Any]:
        url = self._s3.generate_presigned_url(
            "get_object",
            Params=SourceObject.from_dict(source).s3_location(),
            ExpiresIn=self._settings.presign_expiry_seconds,
        )
        task_id = self._novita.submit(url)
        metrics.add_metric(name="ImagesSubmitted", unit=MetricUnit.Count, value=1)
        return {"task_id": task_id, "submitted_at": self._clock()}

    def _reschedule(self, exc: ProviderThrottledError) -> Slot:
        now = self._clock()
        not_before = now + (exc.retry_after if exc.retry_after is not None else self._pacer.spacing)
        self._pacer.push_back(not_before)
        # Already admitted: wait however long the schedule is (the backlog bound is for admission).
        slot_at = self._pacer.reserve(not_before, max_backlog=None)
        metrics.add_metric(name="ProviderThrottled", unit=MetricUnit.Count, value=1)
        logger.warning(
            "throttled by the provider: rescheduled",
            extra={"retry_after": exc.retry_after, "slot_at": slot_at},
        )
        return Slot.due(slot_at, now)
