import pytest

from cutout.novita import TaskResult, parse_task_result
from cutout.polling import (
    MAX_REPOLL_SECONDS,
    MAX_WAIT_SECONDS,
    REPOLL_STEP_SECONDS,
    decide,
    next_wait_seconds,
    poll_task,
)
from tests.support.events import load_event

SUBMITTED_AT = 1_000.0


@pytest.mark.parametrize(
    ("eta", "expected"), [(3, 3), (2.2, 3), (0.4, 1), (10, 10), (20, 12), (80, 48), (500, MAX_WAIT_SECONDS)]
)
def test_short_etas_are_waited_out_and_long_ones_approached(eta, expected):
    assert next_wait_seconds(eta=eta, elapsed=5, remaining=900) == expected


@pytest.mark.parametrize(
    ("elapsed", "expected"), [(0, 2), (9, 2), (25, 2), (40, 3), (120, 11), (3000, MAX_WAIT_SECONDS)]
)
def test_without_eta_the_wait_grows_with_elapsed_time(elapsed, expected):
    assert next_wait_seconds(eta=None, elapsed=elapsed, remaining=10_000) == expected
    assert next_wait_seconds(eta=0, elapsed=elapsed, remaining=10_000) == expected


@pytest.mark.parametrize("elapsed", [30, 31, 45, 99.5, 250, 599])
def test_without_eta_the_next_look_comes_within_a_tenth_of_the_elapsed_time(elapsed):
    # One loop round adds about half a second (Choice, Task, invoke, provider call) to the Wait.
    assert next_wait_seconds(eta=None, elapsed=elapsed, remaining=10_000) + 0.5 <= 0.1 * elapsed


def test_never_waits_past_the_deadline():
    assert next_wait_seconds(eta=40, elapsed=880, remaining=20) == 20
    assert next_wait_seconds(eta=40, elapsed=900, remaining=0) == 1


def test_processing_task_before_the_deadline_loops():
    result = parse_task_result(load_event("provider/task_result_processing.json"), "t")
    poll = decide(result, elapsed=10, count=3, max_wait=900)
    assert (poll.status, poll.wait_seconds, poll.count, poll.deadline_passed) == ("PROCESSING", 2, 3, False)


def test_deadline_passed_only_for_unfinished_tasks():
    processing = parse_task_result(load_event("provider/task_result_unknown.json"), "t")
    poll = decide(processing, elapsed=901, count=40, max_wait=900)
    assert poll.deadline_passed
    assert "still UNKNOWN after 901 s" in poll.reason
    done = parse_task_result(load_event("provider/task_result_succeed.json"), "t")
    assert not decide(done, elapsed=901, count=40, max_wait=900).deadline_passed


def test_failed_task_carries_the_provider_reason():
    result = parse_task_result(load_event("provider/task_result_failed.json"), "t")
    assert decide(result, elapsed=3, count=1, max_wait=900).reason == "failed to download image: HTTP 403"


class ScriptedProvider:
    """Answers task-result requests from a script of results, on a clock that sleep() moves."""

    def __init__(self, *results: TaskResult) -> None:
        self.results = list(results)
        self.requests = 0
        self.now = SUBMITTED_AT + 5
        self.slept: list[float] = []

    def task_result(self, task_id: str) -> TaskResult:
        self.requests += 1
        return self.results.pop(0)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def running(eta: float | None) -> TaskResult:
    return TaskResult("t", "PROCESSING", "", eta, 50, ())


def finished() -> TaskResult:
    return parse_task_result(load_event("provider/task_result_succeed.json"), "t")


def poll(provider: ScriptedProvider, count: int = 0, max_wait: int = 900):
    return poll_task(
        provider,
        "t",
        submitted_at=SUBMITTED_AT,
        count=count,
        max_wait=max_wait,
        clock=provider.clock,
        sleep=provider.sleep,
    )


def test_a_task_far_from_done_is_asked_once_and_left_to_the_state_machine():
    provider = ScriptedProvider(running(eta=4))
    result = poll(provider, count=2)
    assert (result.status, result.wait_seconds, result.count) == ("PROCESSING", 4, 3)
    assert (provider.requests, provider.slept) == (1, [])


def test_a_task_about_to_finish_is_asked_again_in_the_same_invocation():
    provider = ScriptedProvider(running(eta=1), running(eta=1), finished())
    result = poll(provider, count=2)
    assert (result.status, result.count) == ("SUCCEED", 5)
    assert provider.slept == [REPOLL_STEP_SECONDS, REPOLL_STEP_SECONDS]  # noticed within a step of the end


def test_the_in_lambda_wait_is_bounded():
    steps = round(MAX_REPOLL_SECONDS / REPOLL_STEP_SECONDS)
    provider = ScriptedProvider(*[running(eta=MAX_REPOLL_SECONDS)] * (steps + 1))
    result = poll(provider)
    assert (result.status, result.wait_seconds, result.count) == ("PROCESSING", 1, steps + 1)
    assert provider.requests == steps + 1
    assert sum(provider.slept) <= MAX_REPOLL_SECONDS + 1e-9


@pytest.mark.parametrize("first", [running(eta=None), finished()])
def test_no_in_lambda_wait_without_an_eta_or_once_finished(first):
    provider = ScriptedProvider(first)
    poll(provider)
    assert (provider.requests, provider.slept) == (1, [])


def test_elapsed_time_is_read_after_the_polls():
    provider = ScriptedProvider(*[running(eta=1)] * 6)
    provider.now = SUBMITTED_AT + 899.2  # the in-Lambda second takes it past the deadline
    result = poll(provider, max_wait=900)
    assert result.deadline_passed
    assert "after 900 s" in result.reason


def test_no_in_lambda_wait_once_the_deadline_has_passed():
    provider = ScriptedProvider(running(eta=1))
    provider.now = SUBMITTED_AT + 901
    result = poll(provider, max_wait=900)
    assert result.deadline_passed
    assert (provider.requests, provider.slept) == (1, [])
