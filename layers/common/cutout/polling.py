"""When to look at a provider task again. The one polling policy: CheckStatus uses it, and the polling
benchmark imports it (bench/bench_polling.py), so what is measured is what runs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from cutout.novita import NovitaClient, TaskResult

MIN_WAIT_SECONDS = 1  # a Wait state counts whole seconds
MAX_WAIT_SECONDS = 60
BACKOFF_FRACTION = 0.1  # without an eta, poll again after 10 % of the time already waited


def next_wait_seconds(*, eta: float | None, elapsed: float, remaining: float) -> int:
    """Seconds the state machine waits before the next poll.

    - With the provider's ``eta`` (seconds left): wait exactly that long, rounded up, so a finished task
      is noticed at once and nothing is polled in between.
    - Without one (absent or 0): wait a fixed share of the time already spent, so the time between the
      task finishing and our noticing stays under ``BACKOFF_FRACTION`` of its duration while long tasks
      are polled ever more rarely (geometric backoff).
    - Always between ``MIN_WAIT_SECONDS`` and ``MAX_WAIT_SECONDS``, and never past the deadline
      (``remaining`` seconds away), so a task that never ends is given up on time.
    """
    wait = math.ceil(eta) if eta and eta > 0 else math.floor(elapsed * BACKOFF_FRACTION)
    wait = min(max(wait, MIN_WAIT_SECONDS), MAX_WAIT_SECONDS)
    return max(MIN_WAIT_SECONDS, min(wait, math.ceil(remaining)))


@dataclass(frozen=True)
class PollResult:
    """What CheckStatus returns to the state machine (the ``$.poll`` object)."""

    status: str
    wait_seconds: int
    count: int
    deadline_passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def initial_poll(wait_seconds: int = MIN_WAIT_SECONDS) -> PollResult:
    """The ``$.poll`` an execution starts with: nothing known yet, look after the shortest wait."""
    return PollResult(status="QUEUED", wait_seconds=wait_seconds, count=0, deadline_passed=False, reason="")


def poll_task(
    client: NovitaClient, task_id: str, *, submitted_at: float, count: int, now: float, max_wait: int
) -> PollResult:
    """Ask the provider once and decide what the state machine does next."""
    result = client.task_result(task_id)
    return decide(result, elapsed=now - submitted_at, count=count + 1, max_wait=max_wait)


def decide(result: TaskResult, *, elapsed: float, count: int, max_wait: int) -> PollResult:
    deadline_passed = not result.finished and elapsed >= max_wait
    reason = result.reason
    if deadline_passed:
        reason = (
            f"task {result.task_id} still {result.status} after {int(elapsed)} s "
            f"(MaxTaskWaitSeconds {max_wait}) and {count} polls"
        )
    elif result.status == "FAILED" and not reason:
        reason = "the provider reported the task FAILED without a reason"
    return PollResult(
        status=result.status,
        wait_seconds=next_wait_seconds(eta=result.eta, elapsed=elapsed, remaining=max_wait - elapsed),
        count=count,
        deadline_passed=deadline_passed,
        reason=reason,
    )
