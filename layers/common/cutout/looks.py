"""When to look at a provider task again: the one policy, shared by SendFunction's looks after submitting
(``after_submission``, the first timed from the provider's recent task durations: ``first_look_at``) and
CheckStatus's (``cutout.polling``), both through ``poll_task``. The polling benchmark
(bench/bench_polling.py) imports them, so what is measured is what runs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from cutout.durations import MIN_SAMPLES, Durations, Histogram, ended_about, explores
from cutout.novita import TERMINAL_STATUSES, NovitaClient, TaskResult
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
MAX_IN_LAMBDA_SECONDS = 12.0  # a function looks again within itself for at most this long (wall clock)
# SendFunction's look after submitting is timed so that, on the recent durations, ON_TIME_SHARE of the
# tasks are noticed within FIRST_LOOK_DELAY_SECONDS (a median delay under the 0.5 s the polling benchmark
# holds short tasks to, with a margin); on a grid of FIRST_LOOK_STEP_SECONDS, at most
# MAX_FIRST_LOOK_SECONDS after the submission (the function sleeps until then).
FIRST_LOOK_DELAY_SECONDS = 0.45
ON_TIME_SHARE = 0.5
FIRST_LOOK_READ_SECONDS = 0.1  # the provider reads the task this long after a look starts (half a request)
MAX_FIRST_LOOK_SECONDS = 8.0
FIRST_LOOK_STEP_SECONDS = 0.1
# Of the looks that find nearly as many tasks done as the latest allowed (within this share), the
# earliest: tasks that all end within a narrow band are looked at just after it.
FIRST_LOOK_SLACK = 0.02
# A second of sleep at 256 MB costs an eighth of a state transition; a task found done by the first look
# saves a round of the loop (three transitions).
SLEEP_SECONDS_PER_TRANSITION = 8.0
# Once the recent durations are known (``aiming``), a look the eta or the blind windows place is brought
# forward to where ETA_AIM of the tasks still running, by those durations, will have ended; and a blind
# look before any of them would have ended is put off until the next recorded end, if at least
# SKIP_EVIDENCE recorded durations are longer than the time already spent (a stretch with no recorded
# end among fewer says little: 30 durations spread over ten minutes leave gaps of a minute).
SKIP_EVIDENCE = 100
AIM_EVIDENCE = 10  # recorded ends within an eta's last second that may aim a look within it
# A task running longer than this share of the recent ones, whose eta says it ends within the second, is
# asked again every REPOLL_STEP_SECONDS (as one whose eta has run out), not ETA_AIM of a second later.
OVERDUE_SHARE = 0.5


def first_look_at(durations: Durations | None, task_id: str) -> float:
    """Seconds after the submission at which SendFunction looks at the task.

    Submit answers only a task id, so this look is blind. At once, it costs a request that finds no task
    finished, only its eta; at T, every task done by then costs that one request, late by T minus its
    duration, and one not done is found where its eta aims (in time with the chance ``followed`` below).
    The later T, the more tasks take one request, and the more are late. So T is the look that finds the
    most tasks done (the earliest within ``FIRST_LOOK_SLACK`` of it) among those that still notice
    ``ON_TIME_SHARE`` of the recent durations within ``FIRST_LOOK_DELAY_SECONDS``, if the rounds it saves
    (three transitions for each task found done) pay for the sleep; else at once (the tasks take longer:
    the eta is worth having early). At once too while fewer than ``MIN_SAMPLES`` durations are known,
    and for the explorers while the durations are mostly estimates (``cutout.durations``)."""
    if durations is None:
        return 0.0
    history = durations.recent()
    if history.samples < MIN_SAMPLES or (explores(task_id) and not history.mostly_exact):
        return 0.0
    # One not done yet is found by a look ETA_AIM into the last second its eta names (it ends uniformly
    # in that second): in time for the delay with the chance ``reach``, the reading coming
    # FIRST_LOOK_READ_SECONDS after the look; if the task is still running then, by a look again
    # REPOLL_STEP_SECONDS later.
    reach = FIRST_LOOK_DELAY_SECONDS - FIRST_LOOK_READ_SECONDS
    again = REPOLL_STEP_SECONDS + 2 * FIRST_LOOK_READ_SECONDS
    followed = min(reach, ETA_AIM) + (1 - ETA_AIM) * min(1.0, reach / again)
    allowed = []  # (share of tasks done by then, seconds after the submission)
    for step in range(1, round(MAX_FIRST_LOOK_SECONDS / FIRST_LOOK_STEP_SECONDS) + 1):
        at = step * FIRST_LOOK_STEP_SECONDS
        done = history.share_within(at)
        on_time = done - history.share_within(at + FIRST_LOOK_READ_SECONDS - FIRST_LOOK_DELAY_SECONDS)
        if on_time + (1 - done) * followed >= ON_TIME_SHARE:
            allowed.append((done, at))
    if not allowed:
        return 0.0
    most = max(done for done, _ in allowed)
    at = min(at for done, at in allowed if done >= most - FIRST_LOOK_SLACK)
    return at if 3 * history.share_within(at) * SLEEP_SECONDS_PER_TRANSITION >= at else 0.0


def known_unfinished(result: TaskResult, *, read_at: float, previous: float) -> float:
    """Seconds after the submission until which the task is known unfinished: the latest reading that
    found it so, or the earliest end its eta allowed then (whole seconds, rounded up)."""
    if result.finished:
        return previous
    eta = result.eta if result.eta is not None and result.eta > 0 else 1.0
    return max(previous, read_at + eta - 1)


def eta_ran_out(result: TaskResult, *, read_at: float, unfinished_before: float) -> bool:
    """A reading that says the task ends within the second (eta 1, rounded up) when the eta read
    before it (the one that aimed this look: ``unfinished_before`` = that reading + its eta - 1) had its
    last second mostly gone already: the task ends any moment, so look again after a short step, not
    another ``ETA_AIM`` of a second."""
    if result.finished or result.eta is None or not 0 < result.eta <= 1 or unfinished_before <= 0:
        return False
    return read_at >= unfinished_before + ETA_AIM - 0.25


def learn(
    durations: Durations | None, learns: bool, result: TaskResult, *, unfinished: float, seen_at: float
) -> None:
    """A task found finished ``seen_at`` seconds after its submission: record the duration its answer
    gives (exact), or else, if its first look came at once (``Poll.learns``), the one its looks leave."""
    if durations is None:
        return
    if result.duration is not None:
        # from the provider's receipt of the task, about half a request before the submission returned
        durations.record(max(0.0, result.duration - FIRST_LOOK_READ_SECONDS), exact=True)
    elif learns:
        durations.record(ended_about(unfinished, seen_at), exact=False)


def time_left(result: TaskResult, elapsed: float) -> float | None:
    """Seconds the task has left: the provider's ``eta``; without one (absent or 0), an estimate from
    ``progress_percent`` (the time spent so far, scaled by the share still to go); else None."""
    if result.eta is not None and result.eta > 0:
        return result.eta
    progress = result.progress_percent
    if progress is not None and 0 < progress < 100 and elapsed > 0:
        return elapsed * (100 - progress) / progress
    return None


def aiming(durations: Durations | None, learns: bool) -> Histogram | None:
    """The recent durations, if looks may be aimed by them (``next_look_in``): once ``MIN_SAMPLES`` are
    known, and not for a task that ``learns`` while they are mostly estimates (its looks must stay the
    plain policy's, or the estimates would follow the aims that follow them)."""
    if durations is None:
        return None
    history = durations.recent()
    if history.samples < MIN_SAMPLES or (learns and not history.mostly_exact):
        return None
    return history


def next_look_in(left: float | None, *, elapsed: float, history: Histogram | None = None) -> float:
    """Seconds from the provider's last reading of the task to the next.

    - With ``left`` (``time_left``): an eta is an estimate whose error grows with it; one too long makes
      us late by the excess, one too short costs one more request. So an eta of up to
      ``ETA_TRUSTED_SECONDS`` is waited out, to ``ETA_AIM`` into the last second it names (the provider
      rounds it up: the task ends within that second), and a longer one is approached: wait
      ``ETA_STEP_FRACTION`` of it and ask again, when the estimate's error has shrunk with the time left.
    - Without: the blind windows (``BLIND_PERIOD_SECONDS``): within one, the next step; else its start.

    With the recent durations (``aiming``), finer than an eta's whole seconds: the look comes where
    ``ETA_AIM`` of the tasks still running at ``elapsed`` (with an eta: of those ending within its last
    second) have ended by them, if that is sooner (tasks of about one second are found a fifth of a
    second after their end rather than three quarters; one still running when most of them have ended,
    whose eta says it ends within the second, is asked again after ``REPOLL_STEP_SECONDS``, as one whose
    eta has run out); and a blind look before any of them would have ended is put off until the next
    recorded end, on ``SKIP_EVIDENCE`` (a provider whose tasks all take 30 s is not asked every second
    from the start).
    """
    if left is not None:
        if left > ETA_TRUSTED_SECONDS:
            return left * ETA_STEP_FRACTION
        look = max(left - (1 - ETA_AIM), left * ETA_AIM)
        if history is not None:
            start = history.share_within(elapsed + max(0.0, left - 1))
            within = history.share_within(elapsed + left) - start
            if within * history.samples >= AIM_EVIDENCE:
                aimed = _at(history, start + ETA_AIM * within) - elapsed
                look = max(REPOLL_STEP_SECONDS, min(look, aimed))
            elif left <= 1 and history.share_within(elapsed) >= OVERDUE_SHARE:
                look = REPOLL_STEP_SECONDS  # overdue, and within the second by its eta: any moment now
        return look
    period = math.floor(elapsed / BLIND_PERIOD_SECONDS) + 1
    opens = BLIND_FIRST_LOOK_SECONDS if period == 1 else period * BLIND_PERIOD_SECONDS - BLIND_WINDOW_SECONDS
    blind = BLIND_STEP_SECONDS if elapsed >= opens else opens - elapsed
    if history is None:
        return blind
    done = history.share_within(elapsed)
    if done >= 1:
        return blind  # running longer than any recent task: the durations say nothing
    first = _at(history, done + 0.5 / history.samples) - elapsed  # half a recorded end from now
    if first > blind and history.samples * (1 - done) >= SKIP_EVIDENCE:
        return first
    return max(REPOLL_STEP_SECONDS, min(blind, _at(history, done + ETA_AIM * (1 - done)) - elapsed))


def _at(history: Histogram, share: float) -> float:
    seconds = history.quantile(share)
    assert seconds is not None  # only aimed with recorded durations (``aiming``)
    return seconds


@dataclass(frozen=True)
class Plan:
    """How to wait for the next look from a function that returns to the state machine: sleep ``settle``
    seconds (under one) before returning, then Wait ``wait_seconds``, so that the look lands where an eta
    aims (a Wait state counts whole seconds)."""

    wait_seconds: int
    settle: float = 0.0


def plan(
    left: float | None,
    *,
    elapsed: float,
    remaining: float,
    rtt: float = 0.0,
    history: Histogram | None = None,
) -> Plan:
    """The Wait (and the sleep before it) for a look ``next_look_in`` seconds after the provider's last
    reading, ``rtt`` the duration of that request; always between ``MIN_WAIT_SECONDS`` and
    ``MAX_WAIT_SECONDS``, and never past the deadline (``remaining`` seconds away), so a task that never
    ends is given up on time. The sleep lands the look where an eta or the recent durations aim it."""
    gap = next_look_in(left, elapsed=elapsed, history=history) - rtt / 2 - READ_LAG_SECONDS
    wait = max(MIN_WAIT_SECONDS, math.floor(gap))
    aimed = history is not None or (left is not None and left <= ETA_TRUSTED_SECONDS)
    settle = gap - wait if aimed and gap >= wait else 0.0
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
    durations: Durations | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Poll:
    """SendFunction's look after submitting, at ``first_look_at``, and as ``poll_task`` goes on from
    there (no state transition): the first ``$.poll``. A task found finished goes straight to WriteResult
    or RecordFailure (the state machine's Submitted choice); otherwise the Wait leads to the look its eta
    aims at (or to the first blind window)."""
    at = first_look_at(durations, task_id)
    early = submitted_at + at - clock()
    if early > 0:
        sleep(early)
    poll = poll_task(
        client,
        task_id,
        submitted_at=submitted_at,
        count=0,
        max_wait=max_wait,
        learns=durations is not None and at == 0,
        durations=durations,
        clock=clock,
        sleep=sleep,
    )
    return replace(poll, wait_seconds=0) if poll.status in TERMINAL_STATUSES else poll


def poll_task(
    client: NovitaClient,
    task_id: str,
    *,
    submitted_at: float,
    count: int,
    max_wait: int,
    paused_seconds: int = 0,
    unfinished_until: float = 0.0,
    learns: bool = False,
    durations: Durations | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Poll:
    """Ask the provider and decide what the state machine does next.

    When the next look is due sooner than a Wait state and the loop's own time could bring it (an eta
    about to run out, or within a blind window), stay and look again in this invocation: a round of the
    loop costs three state transitions, about 25 times the price of a one-second sleep at 256 MB. Looking
    again stops ``MAX_IN_LAMBDA_SECONDS`` after the first look (sleeps and requests). Before returning,
    sleep the fraction of a second
    that lands the next look where the eta aims (``Plan.settle``). Time spent ``paused_seconds`` by
    provider outages does not count against ``max_wait``. A task that ``learns`` (its first look came at
    once) found finished records its duration (``cutout.looks.learn``)."""

    def look() -> tuple[TaskResult, float, float, float]:
        result, rtt = ask(client, task_id, clock)
        read_at = clock() - rtt / 2 - submitted_at - paused_seconds
        return result, rtt, read_at, known_unfinished(result, read_at=read_at, previous=unfinished_until)

    # After an outage the elapsed time leaves out the pause, while the task's duration does not: the
    # plain policy then, not the recent durations' aims.
    history = aiming(durations, learns) if not paused_seconds else None
    carried = unfinished_until
    result, rtt, read_at, unfinished_until = look()
    count += 1
    began, previous = clock(), None
    ran_out = eta_ran_out(result, read_at=read_at, unfinished_before=carried)
    while not result.finished:
        elapsed = clock() - submitted_at - paused_seconds
        if elapsed >= max_wait:
            break
        left = time_left(result, elapsed)
        gap = next_look_in(left, elapsed=elapsed, history=history) - rtt
        if ran_out or (left is not None and previous is not None and left >= previous):
            gap = REPOLL_STEP_SECONDS  # the eta has run out and the task is not done: it ends any moment
            ran_out = False
        gap = max(gap, REPOLL_STEP_SECONDS)
        if gap > IN_LAMBDA_GAP_SECONDS or clock() - began + gap > MAX_IN_LAMBDA_SECONDS:
            break
        sleep(gap)
        previous = left
        result, rtt, read_at, unfinished_until = look()
        count += 1
    elapsed = clock() - submitted_at - paused_seconds
    poll = decide(
        result,
        elapsed=elapsed,
        count=count,
        max_wait=max_wait,
        rtt=rtt,
        unfinished_until=unfinished_until,
        history=history,
    )
    if result.finished:
        learn(durations, learns, result, unfinished=unfinished_until, seen_at=read_at)
    settle(result, elapsed, max_wait, rtt, sleep, history)
    return replace(poll, paused_seconds=paused_seconds, learns=learns)


def ask(client: NovitaClient, task_id: str, clock: Callable[[], float]) -> tuple[TaskResult, float]:
    """The task's result, and how long the request took."""
    began = clock()
    result = client.task_result(task_id)
    return result, clock() - began


def settle(
    result: TaskResult,
    elapsed: float,
    max_wait: int,
    rtt: float,
    sleep: Callable[[float], None],
    history: Histogram | None = None,
) -> None:
    if result.finished or elapsed >= max_wait:
        return
    left = time_left(result, elapsed)
    settle = plan(left, elapsed=elapsed, remaining=max_wait - elapsed, rtt=rtt, history=history).settle
    if settle > 0:
        sleep(settle)


def decide(
    result: TaskResult,
    *,
    elapsed: float,
    count: int,
    max_wait: int,
    rtt: float = 0.0,
    unfinished_until: float = 0.0,
    history: Histogram | None = None,
) -> Poll:
    """``elapsed``: seconds since the submission, outages not counted; ``rtt``: the last request's
    duration; ``unfinished_until``: ``known_unfinished``, carried in the poll; ``history``: the recent
    durations the next look is aimed by (``aiming``)."""
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
            time_left(result, elapsed),
            elapsed=elapsed,
            remaining=max_wait - elapsed,
            rtt=rtt,
            history=history,
        ).wait_seconds,
        count=count,
        deadline_passed=deadline_passed,
        reason=reason,
        unfinished_until=round(unfinished_until, 3),
    )
