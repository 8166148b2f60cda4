"""CheckStatusFunction's work: look at the provider task, as often as the policy (``cutout.looks.poll_task``)
says within one invocation, unless the provider is unavailable (``cutout.health``)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit

from cutout.durations import Durations
from cutout.errors import OUTAGE_ERRORS
from cutout.health import Outage, ProviderHealth, Wait
from cutout.looks import MAX_WAIT_SECONDS, poll_task
from cutout.novita import TERMINAL_STATUSES, NovitaClient
from cutout.observability import metrics
from cutout.state import PAUSED, Poll, PollRequest


def check_task(
    client: NovitaClient,
    health: ProviderHealth,
    request: PollRequest,
    *,
    max_wait: int,
    durations: Durations | None = None,
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
            unfinished_until=request.unfinished_until,
            learns=request.learns,
            durations=durations,
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
        unfinished_until=request.unfinished_until,
        learns=request.learns,
    )
