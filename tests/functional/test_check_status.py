import itertools
import time

import boto3
import pytest

from cutout.durations import bin_of
from cutout.errors import ProviderProtocolError, ProviderTaskNotFoundError
from tests.support.events import load_event
from tests.support.images import photo


def check_event(task_id: str, submitted_at: float, count: int = 0) -> dict:
    event = load_event("check_status.json")
    event.update(task_id=task_id, submitted_at=submitted_at, count=count)
    return event


def test_polls_until_the_task_succeeds(world):
    world.provider.faults.update(task_min_seconds=1.5)
    app = world.load("check_status")
    task_id = world.submit_task("uploads/a.jpg", photo())
    submitted_at, polls = time.time(), []

    while not polls or polls[-1]["status"] not in {"SUCCEED", "FAILED"}:
        count = polls[-1]["count"] if polls else 0  # as the state machine passes $.poll.count back
        polls.append(world.invoke(app, check_event(task_id, submitted_at, count)))
        assert len(polls) < 50
        time.sleep(0.2)

    assert polls[-1]["status"] == "SUCCEED"
    counts = [p["count"] for p in polls]
    assert counts[0] >= 2  # a task about to end (or in the first blind window) is looked at again at once
    assert all(b > a for a, b in itertools.pairwise(counts))
    assert all(p["wait_seconds"] >= 1 and p["deadline_passed"] is False for p in polls)


def test_failed_task_returns_the_provider_reason(world):
    world.provider.faults.update(task_fail_next=1, task_fail_reason="IMAGE_DECODE_FAILED: bad input")
    task_id = world.finished_task("uploads/a.jpg", photo())
    poll = world.invoke(world.load("check_status"), check_event(task_id, time.time()))
    assert (poll["status"], poll["reason"]) == ("FAILED", "IMAGE_DECODE_FAILED: bad input")


def test_a_task_that_never_finishes_passes_its_deadline(world):
    world.provider.faults.update(task_hang_next=1)
    task_id = world.submit_task("uploads/a.jpg", photo())
    app = world.load("check_status", MAX_TASK_WAIT_SECONDS="60")
    poll = world.invoke(app, check_event(task_id, time.time() - 61, count=7))
    assert poll["deadline_passed"] is True
    assert poll["count"] == 8  # one request: past the deadline, no in-Lambda re-polls
    assert "after 61 s" in poll["reason"]


def test_unknown_task_is_a_permanent_error(world):
    with pytest.raises(ProviderTaskNotFoundError):
        world.invoke(world.load("check_status"), check_event("no-such-task", time.time()))


def test_a_malformed_answer_raises_a_retryable_error(world):
    task_id = world.submit_task("uploads/a.jpg", photo())
    world.provider.faults.update(poll_malformed_next=1)
    with pytest.raises(ProviderProtocolError):
        world.invoke(world.load("check_status"), check_event(task_id, time.time()))


def test_an_unavailable_provider_pauses_polling_until_the_probe_then_resumes(world):
    """On DynamoDB (moto) as deployed: the outage item is shared through the schedule table."""
    task_id = world.submit_task("uploads/a.jpg", photo())
    app = world.load("check_status")
    world.provider.faults.update(poll_5xx_next=1)
    paused = world.invoke(app, check_event(task_id, time.time(), count=2))
    assert (paused["status"], paused["count"], paused["paused_seconds"]) == (
        "PAUSED",
        2,
        paused["wait_seconds"],
    )
    assert paused["reason"].startswith("provider unavailable: /v3/async/task-result answered HTTP 503")
    again = world.invoke(app, check_event(task_id, time.time(), count=2))
    assert again["status"] == "PAUSED"  # before the probe nobody asks: the fault was used up, unasked
    time.sleep(1.05)
    polled = world.invoke(app, check_event(task_id, time.time(), count=2))
    assert polled["status"] in {"QUEUED", "PROCESSING", "SUCCEED"}
    assert polled["count"] >= 3


def test_unknown_status_is_not_finished(world):
    task_id = world.submit_task("uploads/a.jpg", photo())
    # without an eta: an UNKNOWN answer is returned as it is, or (when the next look is due soon, from
    # the progress or the blind window) looked at again in the same invocation, and the task may be
    # finished by then; a finished one would be neither
    world.provider.faults.update(poll_unknown_status_next=1, eta_mode="absent")
    poll = world.invoke(world.load("check_status"), check_event(task_id, time.time()))
    assert poll["status"] == "UNKNOWN" or poll["count"] >= 2
    assert poll["deadline_passed"] is False


def durations_recorded(world) -> dict[str, int]:
    """Every count of the provider's task durations (cutout.durations) in the schedule table."""
    items = boto3.client("dynamodb").scan(TableName=world.env["RATE_LIMIT_TABLE"])["Items"]
    return {
        f"{item['id']['S']}/{name}": int(value["N"])
        for item in items
        if item["id"]["S"].startswith("task-durations#")
        for name, value in item.items()
        if name.startswith("b") or name == "exact"
    }


def test_a_finished_task_records_the_duration_its_answer_gives_beside_the_schedule(world):
    app = world.load("check_status")
    task_id = world.finished_task("uploads/a.jpg", photo())
    took = world.novita.task_result(task_id).duration  # the local provider gives extra.debug_info
    assert took is not None
    assert 0 < took < 30
    poll = world.invoke(app, {**check_event(task_id, time.time() - 5, count=1), "learns": False})
    assert poll["status"] == "SUCCEED"
    hour = int(time.time() // 3600)
    # counted from the submission's return: half a request after the provider's receipt
    assert durations_recorded(world) == {
        f"task-durations#{hour}/b{bin_of(took - 0.1)}": 1,
        f"task-durations#{hour}/exact": 1,
    }
