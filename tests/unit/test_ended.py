import json

import pytest

from cutout.ended import EndedExecution, record_ended_execution
from cutout.errors import ExecutionInputUnreadableError
from cutout.failures import write_failure_record
from cutout.keys import failure_key, output_key
from cutout.state import SourceObject
from tests.support.events import load_event
from tests.support.fakes import FakeS3, client_error

KEY = "uploads/my holiday photo(1).jpg"


def ended(sample="execution_timed_out.json", **detail):
    event = load_event(sample)
    event["detail"].update(detail)
    return EndedExecution.from_event(event)


def stored(s3, settings, key=KEY):
    return s3.objects.get((settings.output_bucket, failure_key(key, settings)))


def record_of(s3, settings):
    return json.loads(stored(s3, settings)["Body"])


def test_a_timed_out_execution_gets_a_record_that_says_so(settings):
    s3 = FakeS3()
    execution = ended()

    key = record_ended_execution(s3, settings, execution)

    record = record_of(s3, settings)
    assert key == failure_key(KEY, settings)
    assert record["source"] == load_event("execution_input.json")["source"]
    assert record["error"] == "ExecutionTimedOut"
    assert "timed out" in record["reason"]
    assert "TimeoutSeconds" in record["reason"]
    assert execution.arn in record["reason"]
    assert (record["task_id"], record["polls"], record["provider_reason"]) == (None, None, None)


def test_an_aborted_execution_gets_a_record_that_says_so(settings):
    s3 = FakeS3()
    record_ended_execution(s3, settings, ended(status="ABORTED", error="Operator", cause="stuck upload"))
    record = record_of(s3, settings)
    assert record["error"] == "ExecutionAborted"
    assert "aborted (stopped by StopExecution)" in record["reason"]
    assert "Operator: stuck upload" in record["reason"]


def test_an_execution_that_failed_outside_the_catch_is_recorded_with_its_own_error(settings):
    s3 = FakeS3()
    record_ended_execution(s3, settings, ended("execution_failed_outside_catch.json"))
    record = record_of(s3, settings)
    assert record["error"] == "Lambda.TooManyRequestsException"
    assert "failed outside the state machine's own Catch" in record["reason"]
    assert "Lambda.TooManyRequestsException: Rate Exceeded." in record["reason"]  # the Lambda payload read
    assert "status FAILED" in record["reason"]


def test_a_failed_execution_without_an_error_name_is_an_execution_failure(settings):
    s3 = FakeS3()
    record_ended_execution(s3, settings, ended(status="FAILED"))
    assert record_of(s3, settings)["error"] == "ExecutionFailed"


def test_the_record_the_state_machine_wrote_is_left_as_it_is(settings):
    s3 = FakeS3()
    execution = ended(
        "execution_failed_outside_catch.json", error="ProviderTaskFailedError", cause="no subject"
    )
    write_failure_record(s3, settings, execution.state.source, error="ProviderTaskFailedError", reason="r")
    before = stored(s3, settings)

    assert record_ended_execution(s3, settings, execution) is None
    assert stored(s3, settings) is before


def test_delivered_twice_it_writes_one_record_with_the_same_content(settings):
    s3 = FakeS3()
    execution = ended(status="ABORTED")
    first = record_ended_execution(s3, settings, execution)
    body = stored(s3, settings)["Body"]

    assert record_ended_execution(s3, settings, execution) is None
    assert first is not None
    assert stored(s3, settings)["Body"] == body
    assert len(s3.objects) == 1


def test_a_reprocess_request_that_timed_out_replaces_the_earlier_requests_record(settings):
    """Attempt 1 of the upload that attempt 0 had failed: its end is recorded, with its attempt."""
    s3 = FakeS3()
    event = load_event("execution_timed_out.json")
    state = json.loads(event["detail"]["input"])
    event["detail"]["input"] = json.dumps({**state, "attempt": 1})
    execution = EndedExecution.from_event(event)
    write_failure_record(s3, settings, execution.state.source, error="ProviderTaskFailedError", reason="r")

    assert record_ended_execution(s3, settings, execution) is not None
    assert (record_of(s3, settings)["error"], record_of(s3, settings)["attempt"]) == ("ExecutionTimedOut", 1)


def test_an_older_uploads_record_is_replaced(settings):
    s3 = FakeS3()
    execution = ended()
    older = SourceObject(execution.state.source.bucket, KEY, etag="older", sequencer="0055AED6DCD90281E4")
    write_failure_record(s3, settings, older, error="UnsupportedInputError", reason="not an image")

    assert record_ended_execution(s3, settings, execution) is not None
    assert record_of(s3, settings)["error"] == "ExecutionTimedOut"


def test_a_newer_uploads_record_is_not_written_over(settings):
    s3 = FakeS3()
    execution = ended()
    newer = SourceObject(execution.state.source.bucket, KEY, etag="newer", sequencer="0055AED6DCD90281E6")
    write_failure_record(s3, settings, newer, error="UnsupportedInputError", reason="not an image")

    assert record_ended_execution(s3, settings, execution) is None
    assert record_of(s3, settings)["source"]["etag"] == "newer"


@pytest.mark.parametrize(
    "metadata",
    [
        {"source-version": "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"},  # its own cutout (aborted after WriteResult)
        {"source-version": "other", "source-sequencer": "0055AED6DCD90281E6"},  # a newer upload's
    ],
)
def test_a_cutout_of_this_or_a_newer_upload_is_an_outcome(settings, metadata):
    s3 = FakeS3()
    s3.put_object(
        Bucket=settings.output_bucket, Key=output_key(KEY, settings), Body=b"png", Metadata=metadata
    )

    assert record_ended_execution(s3, settings, ended(status="ABORTED")) is None
    assert stored(s3, settings) is None


def test_an_older_uploads_cutout_does_not_stop_the_record(settings):
    s3 = FakeS3()
    metadata = {"source-version": "old", "source-sequencer": "0055AED6DCD90281E4"}
    s3.put_object(
        Bucket=settings.output_bucket, Key=output_key(KEY, settings), Body=b"png", Metadata=metadata
    )

    assert record_ended_execution(s3, settings, ended()) is not None


def test_a_succeeded_execution_is_not_recorded(settings):
    s3 = FakeS3()
    assert record_ended_execution(s3, settings, ended(status="SUCCEEDED")) is None
    assert s3.objects == {}


def test_an_s3_error_is_raised_for_a_retry(settings):
    class DeniedS3(FakeS3):
        def list_objects_v2(self, **kwargs):
            raise client_error("AccessDenied", "ListObjectsV2")

    with pytest.raises(Exception, match="AccessDenied"):
        record_ended_execution(DeniedS3(), settings, ended())


@pytest.mark.parametrize(
    "detail",
    [
        {"inputDetails": {"included": False}, "input": None},  # left out of an event that was too large
        {"input": None},
        {"input": "not json"},
        {"input": "[1, 2]"},
        {"input": '{"source": {"bucket": "b"}}'},
    ],
)
def test_an_unreadable_input_is_logged_with_the_execution_arn_and_raised(caplog, detail):
    event = load_event("execution_timed_out.json")
    event["detail"].update(detail)

    with pytest.raises(ExecutionInputUnreadableError, match="input unreadable"):
        EndedExecution.from_event(event)

    [line] = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert line.levelname == "ERROR"
    assert line.execution_arn == event["detail"]["executionArn"]


def test_the_events_fields_are_read(settings):
    execution = ended("execution_failed_outside_catch.json")
    assert execution.status == "FAILED"
    assert execution.name == execution.arn.rpartition(":")[2]
    assert execution.error == "Lambda.TooManyRequestsException"
    assert execution.state.source.key == KEY


def test_a_key_that_only_prefixes_others_is_not_taken_for_a_record(settings):
    s3 = FakeS3()
    other = failure_key(KEY, settings) + ".old"
    s3.put_object(Bucket=settings.output_bucket, Key=other, Body=b"{}")

    assert record_ended_execution(s3, settings, ended()) is not None
