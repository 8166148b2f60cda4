"""Completion events on the whole local stack, received the way automation receives them: a rule matching
source "cutout" with an SQS queue as its target. The stack publishes to a bus of its own (EventBusName), so
the default bus's subscriber must hear nothing. One upload becomes a cutout, one is refused at admission
(SubmitFunction), one fails at the provider (RecordFailure); each event received is checked against the
written schema and against what the output bucket holds."""

from datetime import datetime

import pytest

from tests.support.images import photo
from tests.support.pipeline import pipeline_stack
from tests.support.subscription import Subscription

pytestmark = pytest.mark.e2e

BUS = "cutout-automation"


@pytest.fixture(scope="module")
def stack():
    """The stack on its own bus, and a subscriber on that bus and on the default one."""
    with pipeline_stack(parameters={"EventBusName": BUS}) as pipeline:
        events, sqs = pipeline.stack.client("events"), pipeline.stack.client("sqs")
        events.create_event_bus(Name=BUS)
        subscribers = {
            BUS: Subscription.create(events, sqs, bus=BUS, name="automation"),
            "default": Subscription.create(events, sqs, bus="default", name="default-bus-listener"),
        }
        yield pipeline, subscribers


@pytest.fixture(scope="module")
def outcomes(stack):
    """The three uploads' outcomes, and the events received for them by key."""
    pipeline, subscribers = stack
    uploads = {
        "uploads/events/portrait (1).jpg": photo(320, 240),
        "uploads/events/notes.jpg": b"meeting notes, not a photo\n",
    }
    ended = {key: pipeline.run(key, body) for key, body in uploads.items()}
    pipeline.stack.provider.faults.update(task_fail_next=1, task_fail_reason="IMAGE_UNREADABLE: corrupt scan")
    ended["uploads/events/scan.jpg"] = pipeline.run("uploads/events/scan.jpg", photo())
    received = subscribers[BUS].received(3, timeout=30)
    return pipeline, ended, {event["detail"]["source"]["key"]: event for event in received}


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_cutout_is_announced_with_its_output_as_written(outcomes):
    pipeline, ended, events = outcomes
    key = "uploads/events/portrait (1).jpg"
    event = events[key]
    head = pipeline.s3.head_object(Bucket=pipeline.output_bucket, Key=pipeline.output_key(key))

    assert ended[key].cutout is not None
    assert (event["detail-type"], event["source"]) == ("Cutout Created", "cutout")
    assert event["detail"]["source"]["bucket"] == pipeline.input_bucket
    assert event["detail"]["source"]["etag"] == head["Metadata"]["source-etag"]
    assert event["detail"]["task_id"] == head["Metadata"]["task-id"]
    assert event["detail"]["outputs"] == [
        {
            "bucket": pipeline.output_bucket,
            "key": pipeline.output_key(key),
            "bytes": head["ContentLength"],
            "format": "png",
            "variant": None,
        }
    ]


def test_the_cutouts_times_run_from_admission_to_the_outcome(outcomes):
    _, _, events = outcomes
    event = events["uploads/events/portrait (1).jpg"]
    timings = {name: moment(value) for name, value in event["detail"]["timings"].items()}
    assert timings["admitted_at"] <= timings["submitted_at"] <= timings["finished_at"]
    assert abs((moment(event["time"]) - timings["finished_at"]).total_seconds()) < 1  # whole seconds there


def test_an_upload_refused_at_admission_is_announced_with_its_record_and_no_times(outcomes):
    pipeline, ended, events = outcomes
    key = "uploads/events/notes.jpg"
    detail = events[key]["detail"]

    assert events[key]["detail-type"] == "Cutout Failed"
    assert detail["failure"]["error"] == ended[key].failure["error"] == "UnsupportedInputError"
    assert detail["failure"]["reason"] == ended[key].failure["reason"]
    assert detail["failure"]["record"] == {"bucket": pipeline.output_bucket, "key": pipeline.failure_key(key)}
    assert (detail["task_id"], detail["timings"]["admitted_at"], detail["timings"]["submitted_at"]) == (
        None,
        None,
        None,
    )


def test_a_task_failed_at_the_provider_is_announced_with_its_task_and_times(outcomes):
    _, ended, events = outcomes
    key = "uploads/events/scan.jpg"
    detail = events[key]["detail"]

    assert events[key]["detail-type"] == "Cutout Failed"
    assert detail["failure"]["error"] == "ProviderTaskFailedError"
    assert detail["failure"]["reason"] == "IMAGE_UNREADABLE: corrupt scan"
    assert detail["task_id"] == ended[key].failure["task_id"]
    assert moment(detail["timings"]["admitted_at"]) <= moment(detail["timings"]["submitted_at"])


def test_the_events_go_to_the_named_bus_only_once_each(stack, outcomes):
    _, subscribers = stack
    assert subscribers[BUS].nothing_more()
    assert subscribers["default"].nothing_more()
