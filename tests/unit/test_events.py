"""Completion events (``cutout.events``): their shape for each outcome, and a publisher that retries what
EventBridge refuses for a retryable reason and never lets a failed publish change an outcome."""

import json
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import EndpointConnectionError

from cutout.ended import EndedExecution, record_ended_execution
from cutout.events import (
    CREATED,
    ENTRY_ATTEMPTS,
    ENTRY_BACKOFF_SECONDS,
    FAILED,
    MAX_REASON_CHARS,
    EventPublisher,
    Timings,
    cutout_created,
    cutout_failed,
)
from cutout.failures import record_failure, write_failure_record
from cutout.keys import failure_key
from cutout.options import MAX_VARIANTS
from cutout.state import FailureRequest, OutputWritten, ResultRequest, SourceObject, Written
from tests.support.events import load_event
from tests.support.fakes import FakeEventBridge, FakeS3, client_error
from tests.support.logs import function_log_lines

UPLOAD = SourceObject("cutout-input", "uploads/my holiday photo(1).jpg", version_id="v7", etag="9b2c")
ADMITTED, SUBMITTED, FINISHED = 1795939198.4, 1795939201.25, 1795939207.873
REQUEST = ResultRequest(UPLOAD, "task-8f0b", attempt=2, admitted_at=ADMITTED, submitted_at=SUBMITTED)
PNG = OutputWritten("cutout-output", "cutouts/my holiday photo(1).png", 1873402, "png")
WRITTEN = Written("cutout-output", PNG.key, PNG.bytes, outputs=(PNG,))
# EventBridge's limit on one PutEvents entry (its Time, Source, DetailType, Detail and Resources as UTF-8
# bytes): https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
ENTRY_LIMIT_BYTES = 256 * 1024


def entry_size(entry: dict) -> int:
    """An entry's size as EventBridge counts it (the page above): 14 bytes for a Time, the UTF-8 bytes of
    the rest."""
    texts = [entry["Source"], entry["DetailType"], entry["Detail"], *entry.get("Resources", [])]
    return (14 if "Time" in entry else 0) + sum(len(text.encode()) for text in texts)


def failed_event(reason: str = "not an image") -> dict:
    return cutout_failed(
        UPLOAD,
        error="UnsupportedInputError",
        reason=reason,
        record_bucket="cutout-output",
        record_key="failures/uploads/my holiday photo(1).jpg.json",
        task_id=None,
        attempt=0,
        timings=Timings(None, None, FINISHED),
    )


def test_a_cutout_created_event_names_the_upload_its_outputs_the_task_and_the_times():
    event = cutout_created(REQUEST, WRITTEN, finished_at=FINISHED)
    assert event.detail_type == CREATED
    assert event.detail == {
        "schema_version": 1,
        "source": {
            "bucket": "cutout-input",
            "key": "uploads/my holiday photo(1).jpg",
            "version_id": "v7",
            "etag": "9b2c",
        },
        "attempt": 2,
        "task_id": "task-8f0b",
        "outputs": [
            {
                "bucket": "cutout-output",
                "key": "cutouts/my holiday photo(1).png",
                "bytes": 1873402,
                "format": "png",
                "variant": None,
            }
        ],
        "failure": None,
        "timings": {
            "admitted_at": "2026-11-29T07:59:58.400Z",
            "submitted_at": "2026-11-29T08:00:01.250Z",
            "finished_at": "2026-11-29T08:00:07.873Z",
        },
    }


def test_every_variant_written_is_an_output_of_the_one_event():
    thumb = OutputWritten("cutout-output", "cutouts/thumb/my holiday photo(1).webp", 20411, "webp", "thumb")
    written = Written("cutout-output", PNG.key, PNG.bytes, outputs=(PNG, thumb))
    outputs = cutout_created(REQUEST, written, finished_at=FINISHED).detail["outputs"]
    assert [(o["variant"], o["format"]) for o in outputs] == [(None, "png"), ("thumb", "webp")]


@pytest.mark.parametrize(
    "written",
    [
        Written("cutout-output", PNG.key, 0, wait_seconds=30),  # the provider is unavailable: a wait
        Written("cutout-output", PNG.key, 0),  # a newer outcome stands: nothing written
    ],
    ids=["waiting", "superseded"],
)
def test_what_is_no_outcome_has_no_event(written):
    assert cutout_created(REQUEST, written, finished_at=FINISHED) is None


def test_the_entry_goes_to_the_bus_with_source_cutout_and_the_outcomes_time():
    entry = cutout_created(REQUEST, WRITTEN, finished_at=FINISHED).entry("cutout-events")
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "cutout",
        "Cutout Created",
        "cutout-events",
    )
    assert entry["Time"] == datetime.fromtimestamp(FINISHED, UTC)
    assert json.loads(entry["Detail"])["source"]["key"] == UPLOAD.key


def test_a_failed_event_says_why_and_where_the_record_is_and_has_no_outputs():
    detail = failed_event().detail
    assert (detail["outputs"], detail["task_id"]) == ([], None)
    assert detail["failure"] == {
        "error": "UnsupportedInputError",
        "reason": "not an image",
        "record": {"bucket": "cutout-output", "key": "failures/uploads/my holiday photo(1).jpg.json"},
    }
    assert detail["timings"] == {
        "admitted_at": None,
        "submitted_at": None,
        "finished_at": detail["timings"]["finished_at"],
    }


def test_a_long_reason_is_cut_in_the_event():
    reason = failed_event("x" * (MAX_REASON_CHARS + 1)).detail["failure"]["reason"]
    assert len(reason) == MAX_REASON_CHARS
    assert reason.endswith("x…")


def test_the_largest_event_the_code_can_build_is_far_under_eventbridges_entry_limit():
    """Keys of 1,024 UTF-8 bytes that JSON escapes (a control character: 6 bytes each), the most outputs
    an upload can have, the longest reason, escaped too."""
    key = "\x01" * 1024
    source = SourceObject("b" * 63, key, version_id="v" * 1024, etag="e" * 64)
    outputs = tuple(OutputWritten("b" * 63, key, 10**12, "webp", "v" * 63) for _ in range(MAX_VARIANTS))
    written = Written("b" * 63, key, 10**12, outputs=outputs)
    request = ResultRequest(source, "t" * 1024, attempt=10**6, admitted_at=ADMITTED, submitted_at=SUBMITTED)
    created = cutout_created(request, written, finished_at=FINISHED).entry("b" * 256)
    failed = cutout_failed(
        source,
        error="E" * 256,
        reason="\x01" * 10**5,
        record_bucket="b" * 63,
        record_key=key,
        task_id="t" * 1024,
        attempt=10**6,
        timings=Timings(ADMITTED, SUBMITTED, FINISHED),
    ).entry("b" * 256)
    assert max(entry_size(created), entry_size(failed)) < ENTRY_LIMIT_BYTES / 4


def test_a_published_event_is_counted(added_metrics):
    eventbridge = FakeEventBridge()
    assert EventPublisher("default", eventbridge).publish(failed_event())
    assert [e["detail-type"] for e in eventbridge.events()] == [FAILED]
    added_metrics.assert_called_once_with(name="EventsPublished", unit=MetricUnit.Count, value=1)


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalFailure"])
def test_an_entry_refused_for_a_retryable_reason_is_sent_again_after_a_short_random_wait(code, added_metrics):
    eventbridge, sleeps = FakeEventBridge(code, code), []
    assert EventPublisher("default", eventbridge, sleeps.append).publish(failed_event())
    assert eventbridge.calls == 3
    assert len(eventbridge.entries) == 1
    assert all(0 <= wait <= cap for wait, cap in zip(sleeps, ENTRY_BACKOFF_SECONDS, strict=True))
    added_metrics.assert_called_once_with(name="EventsPublished", unit=MetricUnit.Count, value=1)


def test_an_entry_refused_every_time_is_counted_and_logged_not_raised(added_metrics):
    eventbridge = FakeEventBridge(*["ThrottlingException"] * ENTRY_ATTEMPTS)
    with function_log_lines() as lines:
        assert not EventPublisher("cutout-events", eventbridge, lambda _: None).publish(failed_event())
    assert eventbridge.calls == ENTRY_ATTEMPTS
    added_metrics.assert_called_once_with(name="EventsNotPublished", unit=MetricUnit.Count, value=1)
    [warning] = [json.loads(line) for line in lines if '"WARNING"' in line]
    assert warning["reason"] == "entry refused: ThrottlingException: ThrottlingException (scripted)"
    assert (warning["detail_type"], warning["event_bus"]) == (FAILED, "cutout-events")


def test_an_entry_refused_for_good_is_not_sent_again(added_metrics):
    eventbridge = FakeEventBridge("NotAuthorizedForSourceException")
    assert not EventPublisher("default", eventbridge, lambda _: None).publish(failed_event())
    assert eventbridge.calls == 1
    added_metrics.assert_called_once_with(name="EventsNotPublished", unit=MetricUnit.Count, value=1)


@pytest.mark.parametrize(
    "error",
    [
        client_error("AccessDeniedException", "PutEvents"),
        client_error("ResourceNotFoundException", "PutEvents"),
        EndpointConnectionError(endpoint_url="https://events.us-east-1.amazonaws.com/"),
    ],
    ids=["denied", "no such bus", "unreachable"],
)
def test_a_call_that_fails_whole_is_counted_and_swallowed(error, added_metrics):
    """boto3's standard retries have had their turn by the time the error reaches the publisher."""
    eventbridge = FakeEventBridge(error)
    assert not EventPublisher("default", eventbridge, lambda _: None).publish(failed_event())
    assert eventbridge.calls == 1
    added_metrics.assert_called_once_with(name="EventsNotPublished", unit=MetricUnit.Count, value=1)


# -- every failure record has its event -------------------------------------------------------------------


def test_a_failure_record_written_publishes_its_event_with_the_callers_times(settings):
    eventbridge, s3 = FakeEventBridge(), FakeS3()
    request = FailureRequest.from_event(
        {**load_event("record_failure_catch.json"), "admitted_at": ADMITTED, "submitted_at": SUBMITTED}
    )
    written = record_failure(s3, settings, request, EventPublisher(settings.event_bus_name, eventbridge))
    [event] = eventbridge.events()
    assert (event["detail-type"], event["event-bus"]) == (FAILED, "default")
    assert event["detail"]["failure"]["error"] == "ResultRejectedError"
    assert event["detail"]["failure"]["record"] == {"bucket": written.bucket, "key": written.key}
    assert event["detail"]["task_id"] == request.task_id
    timings = event["detail"]["timings"]
    assert (timings["admitted_at"], timings["submitted_at"]) == (
        "2026-11-29T07:59:58.400Z",
        "2026-11-29T08:00:01.250Z",
    )
    record = json.loads(s3.objects[(written.bucket, written.key)]["Body"])
    assert timings["finished_at"].startswith(record["recorded_at"].removesuffix("+00:00"))


def test_a_failure_record_not_written_over_a_newer_outcome_publishes_nothing(settings):
    eventbridge, s3 = FakeEventBridge(), FakeS3()
    newer = SourceObject("in", "uploads/a.jpg", version_id="v2", etag="e2", sequencer="0B")
    older = SourceObject("in", "uploads/a.jpg", version_id="v1", etag="e1", sequencer="0A")
    publisher = EventPublisher("default", eventbridge)
    write_failure_record(s3, settings, newer, error="UnsupportedInputError", reason="r", events=publisher)
    write_failure_record(s3, settings, older, error="UnsupportedInputError", reason="r", events=publisher)
    assert [e["detail"]["source"]["version_id"] for e in eventbridge.events()] == ["v2"]


def test_a_failure_record_whose_event_is_lost_is_written_all_the_same(settings):
    s3 = FakeS3()
    unreachable = FakeEventBridge(EndpointConnectionError(endpoint_url="https://events.example/"))
    publisher = EventPublisher("default", unreachable, lambda _: None)
    key = write_failure_record(s3, settings, UPLOAD, error="E", reason="r", events=publisher)
    assert (settings.output_bucket, key) in s3.objects


def test_without_a_publisher_the_record_goes_to_the_process_publisher_of_the_settings_bus(
    settings, published
):
    """Admission's failure records (``cutout.intake`` gives none): the times are unknown there."""
    write_failure_record(FakeS3(), settings, UPLOAD, error="UnsupportedInputError", reason="not an image")
    [event] = published.events()
    assert event["event-bus"] == settings.event_bus_name
    assert event["detail"]["failure"]["record"]["key"] == failure_key(UPLOAD.key, settings)
    assert (event["detail"]["timings"]["admitted_at"], event["detail"]["timings"]["submitted_at"]) == (
        None,
        None,
    )


def test_an_ended_executions_record_carries_the_times_of_its_state(settings):
    eventbridge = FakeEventBridge()
    ended = EndedExecution.from_event(load_event("execution_timed_out.json"))
    record_ended_execution(FakeS3(), settings, ended, EventPublisher("default", eventbridge))
    [event] = eventbridge.events()
    assert event["detail"]["failure"]["error"] == "ExecutionTimedOut"
    assert event["detail"]["timings"]["admitted_at"] == "2026-11-29T07:59:58.400Z"  # the state's 1795939198.4
    assert event["detail"]["timings"]["submitted_at"] is None
