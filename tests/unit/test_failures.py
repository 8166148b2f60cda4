import json

from cutout.failures import failure_reason, write_failure_record
from cutout.state import SourceObject
from tests.support.events import load_event
from tests.support.fakes import FakeS3


def test_catch_payload_gives_the_lambda_error_message():
    error, reason = failure_reason(load_event("record_failure_catch.json")["failure"])
    assert error == "ResultRejectedError"
    assert reason == "result is 'text/html', not an image"


def test_pass_state_cause_is_used_as_is():
    error, reason = failure_reason(load_event("record_failure_task_failed.json")["failure"])
    assert (error, reason) == ("ProviderTaskFailedError", "failed to download image: HTTP 403")


def test_states_errors_without_cause_still_say_something():
    assert failure_reason({"Error": "States.Timeout"}) == ("States.Timeout", "States.Timeout")


SIGNED = (
    "https://cutout-input.s3.amazonaws.com/uploads/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAEXAMPLE%2F20261130%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=0123abcd"
)


def record_written(settings, **kwargs):
    s3 = FakeS3()
    key = write_failure_record(s3, settings, SourceObject("in", "uploads/a.jpg", etag="e"), **kwargs)
    return json.loads(s3.objects[(settings.output_bucket, key)]["Body"])


def test_a_signed_url_in_an_unexpected_errors_message_loses_its_signature(settings):
    cause = json.dumps({"errorType": "RuntimeError", "errorMessage": f"could not read {SIGNED}"})
    error, reason = failure_reason({"Error": "RuntimeError", "Cause": cause})
    record = record_written(settings, error=error, reason=reason)
    assert "X-Amz-Signature" not in json.dumps(record)
    assert "X-Amz-Credential" not in json.dumps(record)
    assert record["reason"] == "could not read https://cutout-input.s3.amazonaws.com/uploads/a.jpg?…"


def test_a_rejected_uploads_reason_is_redacted_too(settings):
    record = record_written(settings, error="UnsupportedInputError", reason=f"gone: {SIGNED}")
    assert "X-Amz-Signature" not in record["reason"]


def test_the_provider_reason_is_kept_only_for_a_failed_task(settings):
    failed = record_written(settings, error="ProviderTaskFailedError", reason="no subject found")
    other = record_written(settings, error="ResultRejectedError", reason="not an image")
    assert (failed["provider_reason"], other["provider_reason"]) == ("no subject found", None)
