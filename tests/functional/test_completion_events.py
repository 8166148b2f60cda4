"""Completion events from the handlers, received as a subscriber receives them: a rule on the bus with an
SQS queue as its target (moto's EventBridge, its rules delivering as the local stack's emulator makes them
deliver: cutout_local.aws.eventbridge). Each event received is checked against the written schema."""

import boto3
import pytest
from moto.events.models import Rule

from cutout_local.aws.eventbridge import rule_delivery
from tests.support.events import load_event
from tests.support.images import photo
from tests.support.subscription import Subscription
from tests.support.world import INPUT_BUCKET, OUTPUT_BUCKET

KEY = "uploads/my holiday photo(1).jpg"
ADMITTED, SUBMITTED = 1795939198.4, 1795939201.25


@pytest.fixture
def subscriber(world, monkeypatch):
    """A subscription on the default bus, the bus the template names by default."""
    monkeypatch.setattr(Rule, "send_to_targets", rule_delivery(Rule.send_to_targets))
    return Subscription.create(boto3.client("events"), boto3.client("sqs"))


def write_event(task_id: str) -> dict:
    event = load_event("write_result.json")
    event.update(task_id=task_id, admitted_at=ADMITTED, submitted_at=SUBMITTED)
    event["source"]["bucket"] = INPUT_BUCKET
    return event


def test_a_cutout_written_is_announced_with_its_output_and_times(world, subscriber):
    task_id = world.finished_task(KEY, photo(320, 240))

    written = world.invoke(world.load("write_result"), write_event(task_id))

    [event] = subscriber.received(1)
    assert (event["detail-type"], event["source"]) == ("Cutout Created", "cutout")
    detail = event["detail"]
    assert detail["source"]["key"] == KEY
    assert detail["task_id"] == task_id
    assert detail["outputs"] == written["outputs"]
    assert (detail["timings"]["admitted_at"], detail["timings"]["submitted_at"]) == (
        "2026-11-29T07:59:58.400Z",
        "2026-11-29T08:00:01.250Z",
    )


def test_a_failure_recorded_is_announced_with_its_reason_and_record(world, subscriber):
    event = load_event("record_failure_task_failed.json")
    event["source"]["bucket"] = INPUT_BUCKET

    written = world.invoke(world.load("record_failure"), event)

    [received] = subscriber.received(1)
    assert received["detail-type"] == "Cutout Failed"
    assert received["detail"]["failure"] == {
        "error": "ProviderTaskFailedError",
        "reason": "failed to download image: HTTP 403",
        "record": {"bucket": OUTPUT_BUCKET, "key": written["key"]},
    }
    assert received["detail"]["task_id"] == event["task_id"]


def test_an_upload_refused_at_admission_is_announced_without_times_before_its_failure(world, subscriber):
    key = "uploads/notes.jpg"
    put = world.upload(key, b"meeting notes, not a photo\n")

    world.invoke(world.load("submit"), world.notification(key, put))

    [event] = subscriber.received(1)
    assert (event["detail-type"], event["detail"]["failure"]["error"]) == (
        "Cutout Failed",
        "UnsupportedInputError",
    )
    assert (event["detail"]["timings"]["admitted_at"], event["detail"]["timings"]["submitted_at"]) == (
        None,
        None,
    )
    assert event["detail"]["task_id"] is None


def test_a_bus_that_does_not_exist_loses_the_event_and_not_the_cutout(world, subscriber, function_logs):
    task_id = world.finished_task(KEY, photo(320, 240))
    app = world.load("write_result", EVENT_BUS_NAME="no-such-bus")

    written = world.invoke(app, write_event(task_id))

    assert written["outputs"]  # the cutout, as if nothing had happened
    assert world.output(written["key"])["ContentLength"] == written["bytes"]
    assert subscriber.nothing_more()
    [warning] = [line for line in function_logs if "completion event not published" in line]
    assert "ResourceNotFoundException" in warning
