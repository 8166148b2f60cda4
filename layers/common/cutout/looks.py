"""When to look at a provider task again: the one policy, shared by SendFunction's look just after
submitting (``after_submission``) and CheckStatus's polls (``cutout.polling``). The polling benchmark
(bench/bench_polling.py) imports both, so what is measured is what runs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from cutout.novita import NovitaClient, TaskResult
from cutout.state import MIN_WAIT_SECONDS, Poll

MAX_WAIT_SECONDS = 60
ETA_TRUSTED_SECONDS = 10  # an eta up to this long is waited out...
ETA_AIM = 0.75  # ...to this far into the last second it names (an eta is whole seconds, rounded up)
ETA_STEP_FRACTION = 0.6  # a longer one is approached: wait this share of it, then ask again
# Without an eta: the provider is looked at in windows that end every BLIND_PERIOD_SECONDS after the
# submission, every BLIND_STEP_SECONDS for the last BLIND_WINDOW_SECONDS of each period, from within one
# CheckStatus invocation; the first window opens BLIND_FIRST_LOOK_SECONDS after the submission. A period
# is twice a 5-s poller's round, so there are half as many rounds of the loop; the time between windows
# is at most 10 % of a task of 30 s or more; and a second of sleep at 256 MB costs an eighth of a state
# transition, so a window costs less than the rounds it saves.
BLIND_PERIOD_SECONDS = 10.0
BLIND_WINDOW_SECONDS = 7.5
BLIND_FIRST_LOOK_SECONDS = 1.0
BLIND_STEP_SECONDS = 1.0
# From a function's return to the next CheckStatus's request reaching the provider, besides the Wait:
# three state transitions, a Lambda invoke, half a request.
READ_LAG_SECONDS = 0.3
REPOLL_STEP_SECONDS = 0.2  # a task past the time its eta named is asked again this often
IN_LAMBDA_GAP_SECONDS = 2.5  # a look due within this long is waited for in the function, not in a Wait
MAX_IN_LAMBDA_SECONDS = 9.0  # CheckStatus sleeps at most this long in all to look again in one invocation


def time_left(result: TaskResult, elapsed: float) -> float | None:
    """Seconds the task has left: the provider's ``eta``; without one (absent or 0), an estimate from
    ``progress_percent`` (the time spent so far, scaled by the share still to go); else None."""
    if result.eta is not None and result.eta > 0:
        return result.eta
    progress = result.progress_percent
    if progress is not None and 0 < progress < 100 and elapsed > 0:
        return elapsed * (100 - progress) / progress
    return None


def next_look_in(left: float | None, *, elapsed: float) -> float:
    """Seconds from the provider's last reading of the task to the next.

    - With ``left`` (``time_left``): an eta is an estimate whose error grows with it; one too long makes
      us late by the excess, one too short costs one more request. So an eta of up to
      ``ETA_TRUSTED_SECONDS`` is waited out, to ``ETA_AIM`` into the last second it names (the provider
      rounds it up: the task ends within that second), and a longer one is approached: wait
      ``ETA_STEP_FRACTION`` of it and ask again, when the estimate's error has shrunk with the time left.
    - Without: the blind windows (``BLIND_PERIOD_SECONDS``): within one, the next step; else its start.
    """
    if left is not None:
        if left <= ETA_TRUSTED_SECONDS:
            return max(left - (1 - ETA_AIM), left * ETA_AIM)
        return left * ETA_STEP_FRACTION
    period = math.floor(elapsed / BLIND_PERIOD_SECONDS) + 1
    opens = BLIND_FIRST_LOOK_SECONDS if period == 1 else period * BLIND_PERIOD_SECONDS - BLIND_WINDOW_SECONDS
    return BLIND_STEP_SECONDS if elapsed >= opens else opens - elapsed


@dataclass(frozen=True)
class Plan:
    """How to wait for the next look from a function that returns to the state machine: sleep ``settle``
    seconds (under one) before returning, then Wait ``wait_seconds``, so that the look lands where an eta
    aims (a Wait state counts whole seconds)."""

    wait_seconds: int
    settle: float = 0.0


def plan(left: float | None, *, elapsed: float, remaining: float, rtt: float = 0.0) -> Plan:
    """The Wait (and the sleep before it) for a look ``next_look_in`` seconds after the provider's last
    reading, ``rtt`` the duration of that request; always between ``MIN_WAIT_SECONDS`` and
    ``MAX_WAIT_SECONDS``, and never past the deadline (``remaining`` seconds away), so a task that never
    ends is given up on time."""
    gap = next_look_in(left, elapsed=elapsed) - rtt / 2 - READ_LAG_SECONDS
    wait = max(MIN_WAIT_SECONDS, math.floor(gap))
    settle = gap - wait if left is not None and left <= ETA_TRUSTED_SECONDS and gap >= wait else 0.0
    if wait > MAX_WAIT_SECONDS or wait >= remaining:
        wait, settle = min(MAX_WAIT_SECONDS, max(MIN_WAIT_SECONDS, math.ceil(remaining))), 0.0
    return Plan(wait, settle)


def next_wait_seconds(*, eta: float | None, elapsed: float, remaining: float) -> int:
    """Seconds the state machine waits before the next look, for an ``eta`` (None: blind)."""
    left = eta if eta is not None and eta > 0 else None
    return plan(left, elapsed=elapsed, remaining=remaining).wait_seconds


def after_submission(
    client: NovitaClient,
    task_id: str,
    *,
    submitted_at: float,
    max_wait: int,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Poll:
    """SendFunction's one look, just after submitting: the first ``$.poll``, informed by the task's eta
    (one request, no state transition). Its Wait leads to the look the eta aims at (or to the first blind
    window); a task already finished is looked at again at once."""
    result, rtt = ask(client, task_id, clock)
    elapsed = clock() - submitted_at
    poll = decide(result, elapsed=elapsed, count=1, max_wait=max_wait, rtt=rtt)
    if result.finished:
        return replace(poll, wait_seconds=0)
    settle(result, elapsed, max_wait, rtt, sleep)
    return poll


def ask(client: NovitaClient, task_id: str, clock: Callable[[], float]) -> tuple[TaskResult, float]:
    """The task's result, and how long the request took."""
    began = clock()
    result = client.task_result(task_id)
    return result, clock() - began


def settle(
    result: TaskResult, elapsed: float, max_wait: int, rtt: float, sleep: Callable[[float], None]
) -> None:
    if result.finished or elapsed >= max_wait:
        return
    settle = plan(time_left(result, elapsed), elapsed=elapsed, remaining=max_wait - elapsed, rtt=rtt).settle
    if settle > 0:
        sleep(settle)


def decide(result: TaskResult, *, elapsed: float, count: int, max_wait: int, rtt: float = 0.0) -> Poll:
    """``elapsed``: seconds since the submission, outages not counted; ``rtt``: the last request's
    duration."""
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
        wait_seconds=plan(
            time_left(result, elapsed), elapsed=elapsed, remaining=max_wait - elapsed, rtt=rtt
        ).wait_seconds,
        count=count,
        deadline_passed=deadline_passed,
        reason=reason,
    )
