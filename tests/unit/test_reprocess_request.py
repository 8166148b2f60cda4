"""The reprocess request's message (schema 1): what the command sends is what admission reads, and a
message that does not say exactly that is malformed (it ends in the DLQ like any unreadable message)."""

import json

import pytest

from cutout.errors import MalformedMessageError
from cutout.state import ReprocessRequest, SourceObject

REQUEST = ReprocessRequest(SourceObject("cutout-input", "uploads/café 1.jpg", version_id="v1"), attempt=2)


def body(**changes) -> dict:
    return {**json.loads(REQUEST.to_message()), **changes}


def test_the_message_names_itself_its_schema_and_the_object_version():
    assert body() == {
        "message": "cutout.reprocess",
        "schema": 1,
        "bucket": "cutout-input",
        "key": "uploads/café 1.jpg",
        "version_id": "v1",
        "attempt": 2,
    }


def test_a_request_survives_the_round_trip():
    assert ReprocessRequest.from_message(body()) == REQUEST


def test_a_request_without_a_version_reads_back_without_one():
    request = ReprocessRequest.from_message(body(version_id=None))
    assert request.source == SourceObject("cutout-input", "uploads/café 1.jpg")


def test_only_a_body_that_says_it_is_a_reprocess_request_is_one():
    assert ReprocessRequest.is_one(body())
    assert not ReprocessRequest.is_one({"Records": []})
    assert not ReprocessRequest.is_one([body()])


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"schema": 2}, "schema 2"),
        ({"schema": "1"}, "schema '1'"),
        ({"attempt": 0}, "attempt must be an integer >= 1"),
        ({"attempt": "1"}, "attempt must be an integer >= 1"),
        ({"attempt": True}, "attempt must be an integer >= 1"),
        ({"attempt": 1.0}, "attempt must be an integer >= 1"),
        ({"key": ""}, "bucket and key must be non-empty strings"),
        ({"bucket": None}, "bucket and key must be non-empty strings"),
        ({"version_id": ""}, "version_id must be null"),
        ({"version_id": 7}, "version_id must be null"),
        ({"etag": "e1"}, "fields"),
    ],
)
def test_a_request_that_is_not_exactly_schema_1_is_malformed(changes, problem):
    with pytest.raises(MalformedMessageError, match="reprocess request not understood") as raised:
        ReprocessRequest.from_message(body(**changes))
    assert problem in str(raised.value)


def test_a_request_missing_a_field_is_malformed():
    message = body()
    del message["attempt"]
    with pytest.raises(MalformedMessageError, match="fields"):
        ReprocessRequest.from_message(message)
