"""SendFunction's work, the execution's first task: when the execution's submission slot has come,
presign the upload (or, for an upload in another format, the PNG that ConvertFunction staged for it just
before: ``cutout.conversion``) and submit it to the provider, once per object version (Powertools Idempotency,
so a retried or repeated invocation never submits twice); then ask for the task's eta once, for the
first wait (``cutout.looks.after_submission``). A 429 reschedules the execution instead of
failing it, and moves the shared schedule back by the provider's Retry-After. An outage of the provider
(5xx, timeouts, resets, billing refusals: ``cutout.health``) moves the schedule past the next probe and
reschedules the image after it, without calling the provider unless this image makes the probe. Past
the day's spend cap the image is rescheduled too, to try again a little later. Any way an image that
would wait past its own bound (admitted at + MaxBacklogDays) gets a failure record that says so
(BacklogFullError); past MaxProviderOutageSeconds of outage, one that says that (ProviderOutageError)."""

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

from cutout.aws import Presigner
from cutout.durations import Durations
from cutout.errors import (
    OUTAGE_ERRORS,
    BacklogFullError,
    CutoutError,
    ProviderAuthError,
    ProviderBillingError,
    ProviderProtocolError,
    ProviderRejectedError,
    ProviderThrottledError,
    SpendCapReachedError,
)
from cutout.health import Outage, ProviderHealth, Wait
from cutout.keys import staging_key
from cutout.looks import after_submission
from cutout.novita import TERMINAL_STATUSES, NovitaClient
from cutout.observability import logger, metrics
from cutout.pacing import SubmissionPacer
from cutout.settings import Settings
from cutout.sources import still_current
from cutout.spending import DailySubmissionCap
from cutout.state import ExecutionState, Poll, Slot

# A Wait state counts whole seconds: up to this much of the way to the slot is slept here.
MAX_SLOT_SLEEP_SECONDS = 1.5
# An image held by the spend cap tries again after this long (or when the day turns, if sooner), so
# raising MaxSubmissionsPerDay resumes the held images within minutes.
SPEND_CAP_RETRY_SECONDS = 300
# The look just after submitting found the provider unavailable or its answer unreadable: go on blind.
_FIRST_LOOK_ERRORS: tuple[type[CutoutError], ...] = (
    *OUTAGE_ERRORS,
    ProviderThrottledError,
    ProviderProtocolError,
)
# The provider said no before creating a task: the submission is not counted against the spend cap.
_NOT_SPENT = (ProviderThrottledError, ProviderBillingError, ProviderAuthError, ProviderRejectedError)


class Sender:
    def __init__(
        self,
        *,
        settings: Settings,
        s3: Any,
        novita: NovitaClient,
        pacer: SubmissionPacer,
        cap: DailySubmissionCap,
        health: ProviderHealth,
        persistence: BasePersistenceLayer,
        idempotency: IdempotencyConfig,
        durations: Durations | None = None,
        presigner: Presigner | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._presigner = presigner or Presigner(s3)
        self._novita = novita
        self._pacer = pacer
        self._cap = cap
        self._health = health
        self._durations = durations
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
        if not still_current(self._s3, state.source):
            # Unversioned and overwritten since: the provider would read the newer bytes under this
            # upload's name. The newer upload has its own execution; this one ends here, unsubmitted.
            logger.info("superseded: the object changed before its submission")
            metrics.add_metric(name="ImagesSuperseded", unit=MetricUnit.Count, value=1)
            return state.ended_superseded()
        go = self._health.ask()
        if isinstance(go, Wait):
            return state.rescheduled(self._wait_out(state, go.outage))
        try:
            submitted = self._submit_once(source=state.source.to_dict(), image=self._image(state))
        except OUTAGE_ERRORS as exc:
            return state.rescheduled(self._wait_out(state, self._health.failed(str(exc), go)))
        except ProviderThrottledError as exc:
            self._health.succeeded(go)  # a 429 is an answer: the provider is up
            return state.rescheduled(self._reschedule(state, exc))
        except SpendCapReachedError:
            return state.rescheduled(self._hold(state))
        self._health.succeeded(go)
        logger.append_keys(task_id=submitted["task_id"])
        logger.info("submitted to the provider")
        poll = self._first_look(submitted["task_id"], submitted["submitted_at"])
        return state.submitted(submitted["task_id"], submitted["submitted_at"], poll)

    def _first_look(self, task_id: str, submitted_at: float) -> Poll:
        """Look at the task once (cutout.looks.after_submission: when recent tasks have mostly just
        finished, or at once for its eta), so that a task done by then goes straight to its outcome and
        the first Wait of another leads to its end; the task is submitted whatever the answer, so a
        provider that does not answer leaves the first Wait blind (``Poll.initial``) and CheckStatus to
        meet the outage."""
        try:
            poll = after_submission(
                self._novita,
                task_id,
                submitted_at=submitted_at,
                max_wait=self._settings.max_task_wait_seconds,
                durations=self._durations,
                clock=self._clock,
                sleep=self._sleep,
            )
        except _FIRST_LOOK_ERRORS as exc:
            logger.warning("no eta after submitting: the first wait is blind", extra={"error": str(exc)})
            return Poll.initial()
        if poll.status in TERMINAL_STATUSES:
            metrics.add_metric(name="PollsPerTask", unit=MetricUnit.Count, value=poll.count)
        return poll

    def _image(self, state: ExecutionState) -> dict[str, str]:
        """What the provider reads: the upload itself, or the PNG staged for it (output bucket; a key per
        upload version, so no version id or ETag is needed to name it)."""
        if state.convert_from is None:
            return state.source.s3_location()
        return {"Bucket": self._settings.output_bucket, "Key": staging_key(state.source, self._settings)}

    def _submit(self, source: dict[str, Any], image: dict[str, str]) -> dict[str, Any]:
        """Submit ``image`` (S3 GetObject parameters) for the upload ``source``; idempotent by ``source``
        alone (``image`` follows from it)."""
        if not self._cap.take():
            raise SpendCapReachedError(f"MaxSubmissionsPerDay ({self._cap.per_day}) reached today")
        url = self._presigner.url(image, self._settings.presign_expiry_seconds)
        try:
            task_id = self._novita.submit(url)
        except _NOT_SPENT:
            self._cap.give_back()
            raise
        metrics.add_metric(name="ImagesSubmitted", unit=MetricUnit.Count, value=1)
        return {"task_id": task_id, "submitted_at": self._clock()}

    def _reschedule(self, state: ExecutionState, exc: ProviderThrottledError) -> Slot:
        now = self._clock()
        not_before = now + (exc.retry_after if exc.retry_after is not None else self._pacer.spacing)
        self._pacer.push_back(not_before)
        slot = self._slot_within_bound(state, not_before, why="throttled by the provider (429)")
        metrics.add_metric(name="ProviderThrottled", unit=MetricUnit.Count, value=1)
        logger.warning(
            "throttled by the provider: rescheduled",
            extra={"retry_after": exc.retry_after, "slot_at": slot.at},
        )
        return slot

    def _wait_out(self, state: ExecutionState, outage: Outage) -> Slot:
        """The provider is unavailable: move the whole schedule past the next probe, and wait for a slot
        after it (no sooner than the probe: the first slot after it may be the probe)."""
        self._pacer.push_back(outage.next_probe_at)
        why = f"the provider is unavailable ({outage.reason})"
        slot = self._slot_within_bound(state, outage.next_probe_at, why=why)
        logger.info("provider unavailable: waiting", extra={"slot_at": slot.at})
        return slot

    def _hold(self, state: ExecutionState) -> Slot:
        now = self._clock()
        not_before = now + min(SPEND_CAP_RETRY_SECONDS, self._cap.next_day() - now)
        why = f"held by the spend cap (MaxSubmissionsPerDay {self._cap.per_day})"
        slot = self._slot_within_bound(state, not_before, why=why)
        metrics.add_metric(name="SubmissionsHeldBySpendCap", unit=MetricUnit.Count, value=1)
        logger.warning("spend cap reached today: rescheduled", extra={"slot_at": slot.at})
        return slot

    def _slot_within_bound(self, state: ExecutionState, not_before: float, *, why: str) -> Slot:
        """A new slot for an admitted image, no later than its bound; BacklogFullError past it."""
        now = self._clock()
        bound = state.admitted_at + self._settings.max_backlog_seconds
        try:
            slot_at = self._pacer.reserve(not_before, max_backlog=bound - now)
        except BacklogFullError as exc:
            raise BacklogFullError(
                f"{why}: its next slot would come more than MaxBacklogDays "
                f"({self._settings.max_backlog_days}) after it was admitted ({exc}); nothing was submitted"
            ) from None
        return Slot.due(slot_at, now)
