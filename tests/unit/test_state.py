"""The contracts between the state machine and the functions: every shape survives its trip through
JSON unchanged, a missing optional field reads as absent, and the S3 location names the exact version."""

import json

import pytest

from cutout.state import (
    ExecutionState,
    FailureRequest,
    FailureWritten,
    OutputWritten,
    Poll,
    PollRequest,
    ResultRequest,
    Slot,
    SourceObject,
    Written,
)
from tests.support.events import load_event

BUCKET = "cutout-input-123456789012-3f2a9c1e"
KEY = "uploads/my holiday photo(1).jpg"
VERSION = "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
ETAG = "9b2cf535f27731c974343645a3985328"
SOURCE = SourceObject(BUCKET, KEY, version_id=VERSION, etag=ETAG, sequencer="0055AED6DCD90281E5")


def through_json(data: dict) -> dict:
    """What a Task state hands the next: the dict as JSON text and back."""
    return json.loads(json.dumps(data))


# --- SourceObject -------------------------------------------------------------------------------------
def test_a_source_object_survives_the_round_trip():
    assert SourceObject.from_dict(through_json(SOURCE.to_dict())) == SOURCE


def test_a_source_objects_dict_names_every_field():
    assert SOURCE.to_dict() == {
        "bucket": BUCKET,
        "key": KEY,
        "version_id": VERSION,
        "etag": ETAG,
        "sequencer": "0055AED6DCD90281E5",
    }


def test_a_source_object_without_version_etag_or_sequencer_reads_them_as_absent():
    assert SourceObject.from_dict({"bucket": BUCKET, "key": KEY}) == SourceObject(
        BUCKET, KEY, None, None, None
    )


def test_the_s3_location_of_a_versioned_object_names_its_version():
    assert SOURCE.s3_location() == {"Bucket": BUCKET, "Key": KEY, "VersionId": VERSION}


def test_the_s3_location_of_an_unversioned_object_has_no_version_id():
    assert SourceObject(BUCKET, KEY, etag=ETAG).s3_location() == {"Bucket": BUCKET, "Key": KEY}


def test_the_revision_is_the_version_id_else_the_etag_else_empty():
    assert SOURCE.revision == VERSION
    assert SourceObject(BUCKET, KEY, etag=ETAG).revision == ETAG
    assert SourceObject(BUCKET, KEY).revision == ""


# --- Slot ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ahead", "wait_seconds"),
    [(0.0, 0), (0.999, 0), (1.0, 1), (1.5, 1), (7.25, 7), (-3.0, 0)],
)
def test_a_slots_wait_is_the_whole_seconds_ahead_never_negative(ahead, wait_seconds):
    now = 1_800_000_000.0
    assert Slot.due(now + ahead, now) == Slot(at=now + ahead, wait_seconds=wait_seconds)


def test_a_slot_survives_the_round_trip():
    slot = Slot(at=1_795_939_201.25, wait_seconds=4)
    assert slot.to_dict() == {"at": 1_795_939_201.25, "wait_seconds": 4}
    assert Slot.from_dict(through_json(slot.to_dict())) == slot


def test_a_slot_read_from_whole_numbers_has_a_float_time_and_int_wait():
    slot = Slot.from_dict({"at": 1_795_939_201, "wait_seconds": 4.0})
    assert (type(slot.at), type(slot.wait_seconds)) == (float, int)


# --- Poll ---------------------------------------------------------------------------------------------
def test_the_initial_poll_is_queued_after_one_second_with_nothing_counted():
    assert Poll.initial().to_dict() == {
        "status": "QUEUED",
        "wait_seconds": 1,
        "count": 0,
        "deadline_passed": False,
        "reason": "",
        "paused_seconds": 0,
        "unfinished_until": 0.0,
        "learns": False,
    }


def test_a_poll_survives_the_round_trip():
    poll = Poll(status="PROCESSING", wait_seconds=4, count=3, deadline_passed=True, reason="busy")
    assert Poll.from_dict(through_json(poll.to_dict())) == poll


def test_a_poll_from_before_outages_paused_polling_has_no_paused_seconds():
    poll = Poll.from_dict(
        {"status": "QUEUED", "wait_seconds": 1, "count": 0, "deadline_passed": False, "reason": ""}
    )
    assert poll.paused_seconds == 0


def test_a_poll_read_from_loose_json_types_is_normalised():
    poll = Poll.from_dict(
        {"status": "QUEUED", "wait_seconds": "2", "count": 1.0, "deadline_passed": 0, "reason": 7}
    )
    assert poll == Poll(status="QUEUED", wait_seconds=2, count=1, deadline_passed=False, reason="7")
    assert (type(poll.wait_seconds), type(poll.count), type(poll.deadline_passed)) == (int, int, bool)


# --- ExecutionState -----------------------------------------------------------------------------------
def test_the_sample_execution_input_survives_the_round_trip():
    event = load_event("execution_input.json")
    assert ExecutionState.from_event(event).to_dict() == event


def test_a_submitted_state_survives_the_round_trip():
    state = ExecutionState.admitted(SOURCE, Slot(1_795_939_201.25, 0), admitted_at=1_795_939_198.4).submitted(
        "task-1", 1_795_939_201.5
    )
    assert ExecutionState.from_event(through_json(state.to_dict())) == state


def test_a_state_without_task_fields_reads_as_not_submitted():
    event = load_event("execution_input.json")
    del event["task_id"], event["submitted_at"]
    state = ExecutionState.from_event(event)
    assert (state.task_id, state.submitted_at) == (None, None)


def test_an_upload_to_convert_keeps_its_format_through_the_loop():
    admitted = ExecutionState.admitted(SOURCE, Slot(1.0, 0), admitted_at=0.5, convert_from="heic")
    state = ExecutionState.from_event(
        through_json(admitted.rescheduled(Slot(9.0, 8)).submitted("t", 9.5).to_dict())
    )
    assert state.convert_from == "heic"


def test_an_execution_started_before_conversions_existed_is_sent_as_it_is():
    event = load_event("execution_input.json")
    del event["convert_from"]
    assert ExecutionState.from_event(event).convert_from is None


def test_a_submission_time_in_whole_seconds_reads_as_a_float():
    event = {**load_event("execution_input.json"), "task_id": "task-1", "submitted_at": 1_795_939_202}
    submitted_at = ExecutionState.from_event(event).submitted_at
    assert (submitted_at, type(submitted_at)) == (1_795_939_202.0, float)


def test_an_admitted_state_waits_for_its_slot_with_the_initial_poll():
    slot = Slot(1_795_939_201.25, 3)
    state = ExecutionState.admitted(SOURCE, slot, admitted_at=1_795_939_198.4)
    assert state == ExecutionState(
        source=SOURCE,
        slot=slot,
        poll=Poll.initial(),
        admitted_at=1_795_939_198.4,
        task_id=None,
        submitted_at=None,
    )


def test_rescheduling_changes_only_the_slot():
    state = ExecutionState.admitted(SOURCE, Slot(1_795_939_201.25, 0), admitted_at=1_795_939_198.4)
    later = Slot(1_795_939_260.0, 58)
    assert state.rescheduled(later) == ExecutionState(SOURCE, later, Poll.initial(), 1_795_939_198.4)


def test_submitting_sets_task_and_time_and_restarts_the_polling():
    polled = ExecutionState(SOURCE, Slot(1.0, 0), Poll("PROCESSING", 8, 5, True, "x"), 0.5)
    state = polled.submitted("task-1", 1_795_939_201.5)
    assert state == ExecutionState(SOURCE, Slot(1.0, 0), Poll.initial(), 0.5, "task-1", 1_795_939_201.5)


# --- the other Task states' events and results --------------------------------------------------------
def test_a_poll_request_reads_the_check_status_event():
    event = load_event("check_status.json")
    request = PollRequest.from_event(event)
    assert request == PollRequest(
        task_id=str(event["task_id"]), submitted_at=float(event["submitted_at"]), count=int(event["count"])
    )
    assert (type(request.task_id), type(request.submitted_at), type(request.count)) == (str, float, int)


def test_a_poll_request_normalises_loose_json_types():
    request = PollRequest.from_event({"task_id": 123, "submitted_at": 1_795_939_202, "count": "4"})
    assert request == PollRequest(task_id="123", submitted_at=1_795_939_202.0, count=4)
    assert (type(request.submitted_at), type(request.count)) == (float, int)


def test_a_result_request_reads_the_write_result_event():
    event = load_event("write_result.json")
    request = ResultRequest.from_event(event)
    assert request == ResultRequest(
        SourceObject.from_dict(event["source"]),
        str(event["task_id"]),
        admitted_at=1764493200.118,
        submitted_at=1764493206.402,
    )


def test_a_result_request_reads_the_variants_it_is_to_write():
    request = ResultRequest.from_event(load_event("write_result_variants.json"))
    assert [(v.name, v.options.format, v.options.max_size) for v in request.variants] == [
        ("full", "png", None),
        ("thumb", "webp", 256),
    ]
    assert ResultRequest.from_event({"source": SOURCE.to_dict(), "task_id": 42}).task_id == "42"


def test_a_failure_request_reads_a_catch_event():
    event = load_event("record_failure_catch.json")
    assert FailureRequest.from_event(event) == FailureRequest(
        source=SourceObject.from_dict(event["source"]),
        task_id="8f0b7c0e-5b1a-4e0f-9a57-2f3e8d1c6b4a",
        failure=event["failure"],
        polls=3,
        admitted_at=1764493200.118,
        submitted_at=1764493206.402,
    )


def test_a_failure_request_keeps_its_task_and_poll_count():
    event = {"source": SOURCE.to_dict(), "task_id": "task-1", "failure": {"Error": "E"}, "polls": "12"}
    assert FailureRequest.from_event(event) == FailureRequest(SOURCE, "task-1", {"Error": "E"}, 12)


def test_a_failure_request_before_any_submission_has_no_task_or_polls():
    request = FailureRequest.from_event({"source": SOURCE.to_dict(), "failure": {"Error": "E"}})
    assert (request.task_id, request.polls) == (None, None)


def test_a_failure_request_with_zero_polls_keeps_the_zero():
    assert FailureRequest.from_event({"source": SOURCE.to_dict(), "failure": {}, "polls": 0}).polls == 0


def test_what_write_result_and_record_failure_return_names_every_field():
    output = OutputWritten(bucket="cutout-output", key="cutouts/a.png", bytes=48_213, format="png")
    written = Written(bucket="cutout-output", key="cutouts/a.png", bytes=48_213, outputs=(output,))
    assert written.to_dict() == {
        "bucket": "cutout-output",
        "key": "cutouts/a.png",
        "bytes": 48_213,
        "wait_seconds": 0,
        "outputs": [
            {
                "bucket": "cutout-output",
                "key": "cutouts/a.png",
                "bytes": 48_213,
                "format": "png",
                "variant": None,
            }
        ],
    }
    recorded = FailureWritten(bucket="cutout-output", key="failures/uploads/a.jpg.json")
    assert recorded.to_dict() == {"bucket": "cutout-output", "key": "failures/uploads/a.jpg.json"}
