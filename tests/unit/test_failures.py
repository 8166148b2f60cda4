from cutout.failures import failure_reason
from tests.support.events import load_event


def test_catch_payload_gives_the_lambda_error_message():
    error, reason = failure_reason(load_event("record_failure_catch.json")["failure"])
    assert error == "ResultRejectedError"
    assert reason == "result is 'text/html', not an image"


def test_pass_state_cause_is_used_as_is():
    error, reason = failure_reason(load_event("record_failure_task_failed.json")["failure"])
    assert (error, reason) == ("ProviderTaskFailedError", "failed to download image: HTTP 403")


def test_states_errors_without_cause_still_say_something():
    assert failure_reason({"Error": "States.Timeout"}) == ("States.Timeout", "States.Timeout")
