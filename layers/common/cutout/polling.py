"""When to look at a provider task again. The one polling policy: CheckStatus uses it, and the polling
benchmark imports it (bench/bench_polling.py), so what is measured is what runs."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import replace

from aws_lambda_powertools.metrics import MetricUnit

from cutout.errors import OUTAGE_ERRORS
from cutout.health import Outage, ProviderHealth, Wait
from cutout.novita import TERMINAL_STATUSES, NovitaClient, TaskResult
from cutout.observability import metrics
from cutout.state import MIN_WAIT_SECONDS, PAUSED, Poll, PollRequest

MAX_WAIT_SECONDS = 60
ETA_TRUSTED_SECONDS = 10  # an eta up to this long is waited out in full...
ETA_STEP_FRACTION = 0.6  # ...a longer one is approached: wait this share of it, then ask again
BACKOFF_FRACTION = 0.1  # without an eta, the next look comes within 10 % of the time already waited
BLIND_MIN_WAIT_SECONDS = 2  # ...but no sooner than this: the 10 % rule alone polls every second for 20 s
LOOP_SECONDS = 0.5  # one round of the loop besides its Wait: Choice, Task, Lambda invoke, provider call
MAX_REPOLL_SECONDS = 1.0  # CheckStatus stays this long at most to look again in the same invocation
REPOLL_STEP_SECONDS = 0.2  # ...looking this often meanwhile


def next_wait_seconds(*, eta: float | None, elapsed: float, remaining: float) -> int:
    """Seconds the state machine waits before the next poll.

    - With the provider's ``eta`` (seconds left): an eta is an estimate whose error grows with it; one
      too long makes us late by the excess, one too short costs one more poll. So an eta of up to
      ``ETA_TRUSTED_SECONDS`` is waited out in full (rounded up), and a finished task is noticed at once
      with nothing polled in between; a longer one is approached: wait ``ETA_STEP_FRACTION`` of it and
      ask again, when the estimate's error has shrunk with the time left.
    - Without one (absent or 0): wait ``BACKOFF_FRACTION`` of the time already spent, less the loop's
      own time, so the next look comes within that share of the task's duration while a long task is
      polled ever more rarely (geometric backoff); never sooner than ``BLIND_MIN_WAIT_SECONDS``.
    - Always between ``MIN_WAIT_SECONDS`` and ``MAX_WAIT_SECONDS``, and never past the deadline
      (``remaining`` seconds away), so a task that never ends is given up on time.
    """
    if eta is not None and eta > 0:
        wait = math.ceil(eta if eta <= ETA_TRUSTED_SECONDS else eta * ETA_STEP_FRACTION)
    else:
        wait = max(BLIND_MIN_WAIT_SECONDS, math.floor(elapsed * BACKOFF_FRACTION - LOOP_SECONDS))
    wait = min(max(wait, MIN_WAIT_SECONDS), MAX_WAIT_SECONDS)
    return max(MIN_WAIT_SECONDS, min(wait, math.ceil(remaining)))


def check_task(
    client: NovitaClient,
    health: ProviderHealth,
    request: PollRequest,
    *,
    max_wait: int,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    spread: Callable[[float, float], float] = random.uniform,
) -> Poll:
    """One round of CheckStatus: poll the task, unless the provider is unavailable (``cutout.health``):
    then ask nothing, or only the one due probe, and wait until the next probe (``PAUSED``), spread over
    up to one probe interval so that a recovered provider is not polled by every task at once. Past
    MaxProviderOutageSeconds: ProviderOutageError."""
    go = health.ask()
    if isinstance(go, Wait):
        return _paused(request, health, go.outage, spread)
    try:
        poll = poll_task(
            client,
            request.task_id,
            submitted_at=request.submitted_at,
            count=request.count,
            max_wait=max_wait,
            paused_seconds=request.paused_seconds,
            clock=clock,
            sleep=sleep,
        )
    except OUTAGE_ERRORS as exc:
        return _paused(request, health, health.failed(str(exc), go), spread)
    health.succeeded(go)
    if poll.status in TERMINAL_STATUSES or poll.deadline_passed:
        metrics.add_metric(name="PollsPerTask", unit=MetricUnit.Count, value=poll.count)
    return poll


def _paused(
    request: PollRequest,
    health: ProviderHealth,
    outage: Outage,
    spread: Callable[[float, float], float],
) -> Poll:
    wait = health.wait_seconds(outage, spread(0.0, min(outage.interval, MAX_WAIT_SECONDS)))
    return Poll(
        status=PAUSED,
        wait_seconds=wait,
        count=request.count,
        deadline_passed=False,
        reason=f"provider unavailable: {outage.reason}",
        paused_seconds=request.paused_seconds + wait,
    )


def poll_task(
    client: NovitaClient,
    task_id: str,
    *,
    submitted_at: float,
    count: int,
    max_wait: int,
    paused_seconds: int = 0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Poll:
    """Ask the provider and decide what the state machine does next.

    When the provider's eta says the task ends within ``MAX_REPOLL_SECONDS``, stay and ask again every
    ``REPOLL_STEP_SECONDS`` until it is finished or that second is up: a Wait state cannot wait less
    than a second, so this is where a sub-second wait belongs, and a round of the loop costs three state
    transitions (about 25 times the price of a one-second sleep at 256 MB). At most
    ``MAX_REPOLL_SECONDS`` seconds of sleep and ``MAX_REPOLL_SECONDS / REPOLL_STEP_SECONDS`` more
    requests per invocation. Time spent ``paused_seconds`` by provider outages does not count against
    ``max_wait``."""
    result = client.task_result(task_id)
    count += 1
    about_to_finish = result.eta is not None and 0 < result.eta <= MAX_REPOLL_SECONDS
    if not result.finished and about_to_finish and clock() - submitted_at - paused_seconds < max_wait:
        for _ in range(round(MAX_REPOLL_SECONDS / REPOLL_STEP_SECONDS)):
            sleep(REPOLL_STEP_SECONDS)
            result = client.task_result(task_id)
            count += 1
            if result.finished:
                break
    elapsed = clock() - submitted_at - paused_seconds
    poll = decide(result, elapsed=elapsed, count=count, max_wait=max_wait)
    return replace(poll, paused_seconds=paused_seconds)


def decide(result: TaskResult, *, elapsed: float, count: int, max_wait: int) -> Poll:
    """``elapsed``: seconds since the submission, outages not counted."""
    deadline_passed = not result.finished and elapsed >= max_wait
    reason = result.reason
    if deadline_passed:
        reason = (
            f"task {result.task_id} still {result.status} after {int(elapsed)} s "
            f"(MaxTaskWaitSeconds {max_wait}) and {count} polls"
        )
    elif result.status == "FAILED" and not reason:
        reason = "the provider reported the task FAILED without a reason"
    return Poll(
        status=result.status,
        wait_seconds=next_wait_seconds(eta=result.eta, elapsed=elapsed, remaining=max_wait - elapsed),
        count=count,
        deadline_passed=deadline_passed,
        reason=reason,
    )
