"""The ASL against the code, state by state: what each Task state gives its function and keeps of the
answer is the shape ``cutout.state`` defines (``TASK_CONTRACTS``), and how it retries and routes errors
is what ``cutout.errors.TASK_ERRORS`` says the function can raise."""

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import exceptions as idempotency_errors

from cutout import errors
from cutout.conversion import CONVERT_WITHIN_SECONDS, Converter
from cutout.keys import staging_key
from cutout.sending import MAX_SLOT_SLEEP_SECONDS
from cutout.settings import Settings
from cutout.state import TASK_CONTRACTS, ExecutionState, Slot, SourceObject
from tests.support.events import load_event
from tests.support.fakes import Clock, FakeS3
from tests.support.images import photo
from tests.support.template_env import function_env

ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachine" / "cutout.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]
TASKS = {name: state for name, state in STATES.items() if state["Type"] == "Task"}
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
}
# The state at its fullest: submitted, with a failure caught (what RecordFailure's Parameters read).
FULL_STATE = {
    **load_event("execution_input.json"),
    "task_id": "t",
    "submitted_at": 1.0,
    "failure": {"Error": "E", "Cause": "C"},
    "output": {"bucket": "b", "key": "cutouts/a.png", "bytes": 0, "wait_seconds": 0},
}


def fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def resolve(path: str, document: dict[str, Any]) -> Any:
    """A JSONPath of the simple form ``$.a.b`` read from ``document`` (KeyError when it is not there)."""
    assert path.startswith("$."), path
    value: Any = document
    for part in path[2:].split("."):
        value = value[part]
    return value


def names(cls_list: tuple[type, ...]) -> set[str]:
    return {cls.__name__ for cls in cls_list}


def retryable(state: str) -> set[str]:
    raisable = errors.TASK_ERRORS[state]
    ours = names(tuple(c for c in raisable if issubclass(c, errors.RetryableError)))
    return ours | set(errors.EXTERNAL_RETRYABLE.get(state, ()))


def permanent(state: str) -> set[str]:
    return names(tuple(c for c in errors.TASK_ERRORS[state] if issubclass(c, errors.PermanentError)))


def retried_names(state: dict[str, Any]) -> set[str]:
    return {name for retrier in state.get("Retry", []) for name in retrier["ErrorEquals"]}


def catcher_for(state: dict[str, Any], error: str) -> dict[str, Any] | None:
    """The first Catch that matches ``error`` (by name, or States.ALL), as Step Functions picks it."""
    for catcher in state.get("Catch", []):
        if error in catcher["ErrorEquals"] or "States.ALL" in catcher["ErrorEquals"]:
            return catcher
    return None


def test_every_task_state_has_a_contract_and_an_error_table():
    assert set(TASKS) == set(TASK_CONTRACTS) == set(errors.TASK_ERRORS)


def test_every_state_reads_fields_the_state_has():
    for name, state in STATES.items():
        for key in ("SecondsPath", "Variable", "ErrorPath", "CausePath"):
            if key in state:
                resolve(state[key], FULL_STATE)
        for choice in state.get("Choices", []):
            for rule in choice.get("And", [choice]):
                resolve(rule["Variable"], FULL_STATE)
        for key, path in state.get("Parameters", {}).items():
            if key.endswith(".$") and name not in TASKS:
                resolve(path, FULL_STATE)


def test_the_sample_execution_input_is_the_execution_state():
    event = load_event("execution_input.json")
    assert ExecutionState.from_event(event).to_dict() == event


@pytest.mark.parametrize("name", sorted(TASK_CONTRACTS))
def test_each_task_gives_its_function_exactly_its_request(name):
    request, _ = TASK_CONTRACTS[name]
    parameters = TASKS[name]["Parameters"]
    if "Payload.$" in parameters:  # the whole state
        assert parameters["Payload.$"] == "$"
        assert request is ExecutionState
        return
    payload = parameters["Payload"]
    assert {key.removesuffix(".$") for key in payload} == fields(request)
    assert all(key.endswith(".$") for key in payload), "every field comes from the state"
    sample = {key.removesuffix(".$"): resolve(path, FULL_STATE) for key, path in payload.items()}
    request.from_event(sample)


@pytest.mark.parametrize("name", sorted(TASK_CONTRACTS))
def test_each_task_keeps_exactly_its_response(name):
    _, response = TASK_CONTRACTS[name]
    state = TASKS[name]
    if "ResultSelector" not in state:  # the function returns the whole state
        assert state["OutputPath"] == "$.Payload"
        assert response is ExecutionState
        return
    selector = state["ResultSelector"]
    assert selector == {f"{field}.$": f"$.Payload.{field}" for field in fields(response)}
    kept_at = state["ResultPath"].removeprefix("$.")
    state_fields = typing.get_type_hints(ExecutionState)
    assert state_fields.get(kept_at, response) is response, f"{name} puts a {response.__name__} there"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_each_retryable_error_is_retried_in_the_state_that_raises_it(name):
    assert retryable(name) <= retried_names(TASKS[name])


@pytest.mark.parametrize("name", sorted(TASKS))
def test_each_permanent_error_goes_to_record_failure_without_retry(name):
    state = TASKS[name]
    for error in permanent(name):
        assert error not in retried_names(state)
        catcher = catcher_for(state, error)
        assert catcher is not None, f"{name}: {error} is not caught"
        assert (catcher["Next"], catcher["ResultPath"]) == ("RecordFailure", "$.failure")


@pytest.mark.parametrize("name", sorted(set(TASKS) - {"RecordFailure"}))
def test_any_other_error_still_ends_in_a_failure_record(name):
    assert catcher_for(TASKS[name], "SomethingUnexpected") == {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.failure",
        "Next": "RecordFailure",
    }


@pytest.mark.parametrize("name", sorted(TASKS))
def test_no_retry_names_an_error_the_state_never_sees(name):
    if name == "RecordFailure":  # S3 errors of one PutObject, whatever their name: retried, then Failed
        assert retried_names(TASKS[name]) == {"States.ALL"}
        return
    assert retried_names(TASKS[name]) <= retryable(name) | LAMBDA_SERVICE_ERRORS


@pytest.mark.parametrize("name", sorted(TASKS))
def test_no_catch_is_dead(name):
    catchers = TASKS[name].get("Catch", [])
    for i, catcher in enumerate(catchers):
        for later in catchers[i + 1 :]:
            redundant = "States.ALL" in later["ErrorEquals"] and (later["Next"], later["ResultPath"]) == (
                catcher["Next"],
                catcher["ResultPath"],
            )
            assert not redundant, f"{name}: {catcher['ErrorEquals']} does what States.ALL after it does"
        for earlier in catchers[:i]:
            shadowed = "States.ALL" in earlier["ErrorEquals"] or set(catcher["ErrorEquals"]) <= set(
                earlier["ErrorEquals"]
            )
            assert not shadowed, f"{name}: {catcher['ErrorEquals']} is never reached"


def test_error_names_in_the_asl_are_the_project_errors():
    for state in STATES.values():
        for kind, handlers in (("Retry", state.get("Retry", [])), ("Catch", state.get("Catch", []))):
            for name in (n for handler in handlers for n in handler["ErrorEquals"]):
                if name.startswith(("Lambda.", "States.")):
                    continue
                if name in errors.EXTERNAL_RETRYABLE["Send"]:
                    assert hasattr(idempotency_errors, name)
                    continue
                expected = errors.RetryableError if kind == "Retry" else errors.PermanentError
                assert issubclass(getattr(errors, name), expected), f"{kind} on {name}"


def test_errors_the_asl_names_itself_are_permanent_project_errors():
    passes = {name: state for name, state in STATES.items() if state["Type"] == "Pass"}
    assert passes
    for state in passes.values():
        assert issubclass(getattr(errors, state["Parameters"]["Error"]), errors.PermanentError)
        assert (state["ResultPath"], state["Next"]) == ("$.failure", "RecordFailure")


def test_an_image_pushed_past_its_backlog_bound_in_send_gets_a_failure_record():
    """At admission it is a failure record at once; in Send (a 429 or the spend cap) the Catch's."""
    assert issubclass(errors.BacklogFullError, errors.PermanentError)
    assert [state for state, raised in errors.TASK_ERRORS.items() if errors.BacklogFullError in raised] == [
        "Send"
    ]


def matches(rule: dict[str, Any], document: dict[str, Any]) -> bool:
    """Whether a Choice rule holds for ``document`` (the comparison operators this ASL uses)."""
    if "And" in rule:
        return all(matches(inner, document) for inner in rule["And"])
    try:
        value = resolve(rule["Variable"], document)
    except KeyError:
        if "IsPresent" in rule:
            return rule["IsPresent"] is False
        raise  # Step Functions fails the execution (States.Runtime) on a path that is not there
    if "IsPresent" in rule:
        return rule["IsPresent"] is True
    if "StringEquals" in rule:
        return bool(value == rule["StringEquals"])
    if "BooleanEquals" in rule:
        return value is rule["BooleanEquals"]
    if "NumericGreaterThan" in rule:
        return bool(value > rule["NumericGreaterThan"])
    return (value is None) is rule["IsNull"]


def choose(state_name: str, document: dict[str, Any]) -> str:
    """The Next of a Choice state for ``document``."""
    for choice in STATES[state_name]["Choices"]:
        if matches(choice, document):
            return str(choice["Next"])
    return str(STATES[state_name]["Default"])


def polled(status: str, deadline_passed: bool = False) -> dict[str, Any]:
    return {
        **FULL_STATE,
        "poll": {**FULL_STATE["poll"], "status": status, "deadline_passed": deadline_passed},
    }


@pytest.mark.parametrize(
    ("status", "deadline_passed", "then"),
    [
        ("SUCCEED", False, "WriteResult"),
        ("FAILED", False, "TaskFailed"),
        ("FAILED", True, "TaskFailed"),
        ("PROCESSING", True, "DeadlinePassed"),
        ("QUEUED", False, "WaitForTask"),
        ("PROCESSING", False, "WaitForTask"),
        ("UNKNOWN", False, "WaitForTask"),
        ("PAUSED", False, "WaitForTask"),
    ],
)
def test_each_poll_status_goes_where_it_must(status, deadline_passed, then):
    assert choose("RouteOnStatus", polled(status, deadline_passed)) == then


def test_only_a_failed_task_or_a_passed_deadline_becomes_a_failure_record():
    assert STATES["TaskFailed"]["Parameters"]["Error"] == errors.ProviderTaskFailedError.__name__
    assert STATES["DeadlinePassed"]["Parameters"]["Error"] == errors.TaskDeadlineExceededError.__name__
    assert STATES["WriteResult"]["Next"] == "Written"


@pytest.mark.parametrize(("wait_seconds", "then"), [(0, "Done"), (1, "WaitToWrite"), (300, "WaitToWrite")])
def test_a_cutout_not_written_for_an_outage_is_written_again_after_the_wait(wait_seconds, then):
    written = {**FULL_STATE, "output": {**FULL_STATE["output"], "wait_seconds": wait_seconds}}
    assert choose("Written", written) == then
    assert STATES["WaitToWrite"] == {
        "Type": "Wait",
        "SecondsPath": "$.output.wait_seconds",
        "Next": "WriteResult",
    }


@pytest.mark.parametrize(
    ("convert_from", "then"),
    [("heic", "Convert"), ("gif", "Convert"), (None, "WaitForSlot"), ("(absent)", "WaitForSlot")],
)
def test_an_upload_in_another_format_goes_through_convert_before_each_wait_for_its_slot(convert_from, then):
    """From the start, and each time Send finds its slot not yet come or reschedules it (cutout.conversion
    decides when to convert). An execution started before conversions existed has no convert_from."""
    state = {**FULL_STATE, "task_id": None, "convert_from": convert_from}
    if convert_from == "(absent)":
        del state["convert_from"]
    assert ASL["StartAt"] == "NeedsConversion"
    assert choose("NeedsConversion", state) == then
    assert (STATES["Convert"]["Next"], STATES["WaitForSlot"]["Next"]) == ("WaitForSlot", "Send")


def test_an_execution_waits_for_its_slot_until_it_is_submitted():
    assert choose("Submitted", {**FULL_STATE, "task_id": None}) == "NeedsConversion"
    assert choose("Submitted", FULL_STATE) == "WaitForTask"


@pytest.mark.parametrize(("status", "then"), [("SUCCEED", "WriteResult"), ("FAILED", "TaskFailed")])
def test_a_task_found_finished_by_send_goes_straight_to_its_outcome(status, then):
    """SendFunction's look after submitting (cutout.looks.after_submission) may find the task done: no
    round of the polling loop, and no second look, for it."""
    state = {**FULL_STATE, "poll": {**FULL_STATE["poll"], "status": status, "wait_seconds": 0}}
    assert choose("Submitted", state) == then


@pytest.mark.parametrize("slot_in", [0.0, 45.0, 119.0, 600.0, 3 * 86400.0])
def test_a_converted_upload_is_staged_within_two_minutes_of_its_slot_and_sent_on_time(slot_in):
    """The loop of NeedsConversion, Convert, WaitForSlot, Send and Submitted, walked with the real
    Converter and Send's own rule for a slot not yet come (reschedule if more than
    MAX_SLOT_SLEEP_SECONDS away, else sleep the rest and submit): it ends, the PNG is made once, at most
    CONVERT_WITHIN_SECONDS before the slot, and the submission is not late."""
    clock, s3, settings = Clock(), FakeS3(), Settings.from_env(function_env())
    s3.put_object(
        Bucket=settings.input_bucket, Key="uploads/a.gif", Body=photo(16, 16, "GIF"), VersionId="v1"
    )
    source = SourceObject(settings.input_bucket, "uploads/a.gif", version_id="v1")
    converter = Converter(settings=settings, s3=s3, clock=clock)
    staged_at: list[float] = []

    def convert(state: ExecutionState) -> ExecutionState:
        before = s3.objects.get((settings.output_bucket, staging_key(source, settings)))
        result = converter.convert(state)
        if before is None and (settings.output_bucket, staging_key(source, settings)) in s3.objects:
            staged_at.append(clock.now)
        return result

    def send(state: ExecutionState) -> ExecutionState:
        early = state.slot.at - clock.now
        if early > MAX_SLOT_SLEEP_SECONDS:
            return state.rescheduled(Slot.due(state.slot.at, clock.now))
        clock.advance(max(0.0, early))
        return state.submitted("task", clock.now)

    slot_at = clock.now + slot_in
    state = ExecutionState.admitted(source, Slot.due(slot_at, clock.now), clock.now, convert_from="gif")
    name, entered = ASL["StartAt"], 0
    while name != "WaitForTask":
        entered += 1
        assert entered < 50, "the loop does not end"
        spec = STATES[name]
        if spec["Type"] == "Choice":
            name = choose(name, state.to_dict())
            continue
        if spec["Type"] == "Wait":
            clock.advance(resolve(spec["SecondsPath"], state.to_dict()) + 0.2)  # and the transition's time
        else:
            state = {"Convert": convert, "Send": send}[name](state)
            clock.advance(0.3)  # an invocation's own time
        name = spec["Next"]

    [made] = staged_at
    assert slot_at - CONVERT_WITHIN_SECONDS <= made
    assert made < slot_at or slot_in == 0.0  # before the slot, unless it had come at admission
    assert 0 <= state.submitted_at - slot_at < MAX_SLOT_SLEEP_SECONDS
