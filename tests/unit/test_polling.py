import pytest

from cutout.novita import parse_task_result
from cutout.polling import MAX_WAIT_SECONDS, decide, next_wait_seconds
from tests.events import load_event


@pytest.mark.parametrize(("eta", "expected"), [(3, 3), (2.2, 3), (0.4, 1), (500, MAX_WAIT_SECONDS)])
def test_wait_follows_the_eta(eta, expected):
    assert next_wait_seconds(eta=eta, elapsed=5, remaining=900) == expected


@pytest.mark.parametrize(
    ("elapsed", "expected"), [(0, 1), (9, 1), (25, 2), (120, 12), (3000, MAX_WAIT_SECONDS)]
)
def test_without_eta_the_wait_grows_with_elapsed_time(elapsed, expected):
    assert next_wait_seconds(eta=None, elapsed=elapsed, remaining=10_000) == expected
    assert next_wait_seconds(eta=0, elapsed=elapsed, remaining=10_000) == expected


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
