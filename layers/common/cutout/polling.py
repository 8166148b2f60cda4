"""CheckStatusFunction's work: look at the provider task, as often as the policy (``cutout.looks``) says
within one invocation, unless the provider is unavailable (``cutout.health``)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace

from aws_lambda_powertools.metrics import MetricUnit

from cutout.durations import Durations
from cutout.errors import OUTAGE_ERRORS
from cutout.health import Outage, ProviderHealth, Wait
from cutout.looks import (
    IN_LAMBDA_GAP_SECONDS,
    MAX_IN_LAMBDA_SECONDS,
    MAX_WAIT_SECONDS,
    REPOLL_STEP_SECONDS,
    ask,
    decide,
    eta_ran_out,
    known_unfinished,
    learn,
    next_look_in,
    settle,
    time_left,
)
from cutout.novita import TERMINAL_STATUSES, NovitaClient, TaskResult
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
    )


def poll_task(
    client: NovitaClient,
    task_id: str,
    *,
    submitted_at: float,
    count: int,
    max_wait: int,
    paused_seconds: int = 0,
    unfinished_until: float = 0.0,
    durations: Durations | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Poll:
    """Ask the provider and decide what the state machine does next.

    When the next look is due sooner than a Wait state and the loop's own time could bring it (an eta
    about to run out, or within a blind window), stay and look again in this invocation: a round of the
    loop costs three state transitions, about 25 times the price of a one-second sleep at 256 MB. At most
    ``MAX_IN_LAMBDA_SECONDS`` of sleep per invocation. Before returning, sleep the fraction of a second
    that lands the next look where the eta aims (``Plan.settle``). Time spent ``paused_seconds`` by
    provider outages does not count against ``max_wait``. An explorer found finished records its
    duration (``cutout.looks.learn``)."""

    def look() -> tuple[TaskResult, float, float, float]:
        result, rtt = ask(client, task_id, clock)
        read_at = clock() - rtt / 2 - submitted_at - paused_seconds
        return result, rtt, read_at, known_unfinished(result, read_at=read_at, previous=unfinished_until)

    carried = unfinished_until
    result, rtt, read_at, unfinished_until = look()
    count += 1
    slept, previous = 0.0, None
    ran_out = eta_ran_out(result, read_at=read_at, unfinished_before=carried)
    while not result.finished:
        elapsed = clock() - submitted_at - paused_seconds
        if elapsed >= max_wait:
            break
        left = time_left(result, elapsed)
        gap = next_look_in(left, elapsed=elapsed) - rtt
        if ran_out or (left is not None and previous is not None and left >= previous):
            gap = REPOLL_STEP_SECONDS  # the eta has run out and the task is not done: it ends any moment
            ran_out = False
        gap = max(gap, REPOLL_STEP_SECONDS)
        if gap > IN_LAMBDA_GAP_SECONDS or slept + gap > MAX_IN_LAMBDA_SECONDS:
            break
        sleep(gap)
        slept, previous = slept + gap, left
        result, rtt, read_at, unfinished_until = look()
        count += 1
    elapsed = clock() - submitted_at - paused_seconds
    poll = decide(
        result, elapsed=elapsed, count=count, max_wait=max_wait, rtt=rtt, unfinished_until=unfinished_until
    )
    if result.finished:
        learn(durations, task_id, unfinished=unfinished_until, seen_at=read_at)
    settle(result, elapsed, max_wait, rtt, sleep)
    return replace(poll, paused_seconds=paused_seconds)
