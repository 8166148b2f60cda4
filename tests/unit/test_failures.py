import json
from datetime import UTC, datetime, timedelta
from unittest import mock

from aws_lambda_powertools.metrics import MetricUnit

from cutout.failures import failure_reason, write_failure_record
from cutout.observability import metrics
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


def test_a_failure_without_an_error_name_is_unknown():
    assert failure_reason({"Cause": "the function timed out"}) == ("UnknownError", "the function timed out")
    assert failure_reason({}) == ("UnknownError", "UnknownError")


def test_a_cause_that_is_json_but_no_lambda_error_is_kept_whole():
    assert failure_reason({"Error": "States.DataLimitExceeded", "Cause": '{"limit": 262144}'}) == (
        "States.DataLimitExceeded",
        '{"limit": 262144}',
    )
    assert failure_reason({"Error": "States.Runtime", "Cause": "[1, 2]"})[1] == "[1, 2]"


def test_a_lambda_error_message_that_is_not_text_is_written_as_text():
    cause = json.dumps({"errorType": "KeyError", "errorMessage": 404})
    assert failure_reason({"Error": "KeyError", "Cause": cause}) == ("KeyError", "404")


def test_the_record_is_json_under_the_failure_key_of_the_output_bucket(settings):
    s3 = FakeS3()
    source = SourceObject("cutout-input", "uploads/café.jpg", version_id="v1", etag="e1", sequencer="0A")
    before = datetime.now(UTC).replace(microsecond=0)
    key = write_failure_record(
        s3,
        settings,
        source,
        error="ProviderTaskFailedError",
        reason="no subject in café.jpg",
        task_id="t-1",
        polls=7,
    )
    assert key == "failures/uploads/café.jpg.json"
    stored = s3.objects[(settings.output_bucket, key)]
    assert stored["ContentType"] == "application/json"
    assert "café".encode() in stored["Body"]  # UTF-8 as is, not \\u escapes
    record = json.loads(stored["Body"])
    recorded_at = datetime.fromisoformat(record.pop("recorded_at"))
    assert before <= recorded_at <= before + timedelta(seconds=5)
    assert recorded_at.tzinfo is not None
    assert record == {
        "source": {
            "bucket": "cutout-input",
            "key": "uploads/café.jpg",
            "version_id": "v1",
            "etag": "e1",
            "sequencer": "0A",
        },
        "error": "ProviderTaskFailedError",
        "reason": "no subject in café.jpg",
        "task_id": "t-1",
        "provider_reason": "no subject in café.jpg",
        "polls": 7,
        "attempt": 0,
    }


def test_a_record_without_a_task_has_no_task_fields(settings):
    record = record_written(settings, error="UnsupportedInputError", reason="not an image: gif")
    assert (record["task_id"], record["polls"], record["provider_reason"]) == (None, None, None)


def test_each_failure_record_counts_one_failed_image(settings):
    with mock.patch.object(metrics, "add_metric") as add_metric:
        record_written(settings, error="UnsupportedInputError", reason="not an image: gif")
    failed = [call for call in add_metric.call_args_list if call.kwargs["name"] == "ImagesFailed"]
    assert failed == [mock.call(name="ImagesFailed", unit=MetricUnit.Count, value=1)]


def test_the_record_is_written_over_several_indented_lines_for_a_person_to_read(settings):
    s3 = FakeS3()
    key = write_failure_record(s3, settings, SourceObject("in", "uploads/a.jpg"), error="E", reason="r")
    body = s3.objects[(settings.output_bucket, key)]["Body"].decode()
    assert body.startswith('{\n  "source": {\n')
