"""The backfill request's message (schema 1): what statemachine/backfill.asl.json sends is what admission
reads, and a message that does not say exactly that is malformed (it ends in the DLQ like any
unreadable message)."""

import json
from pathlib import Path

import pytest

from cutout.errors import MalformedMessageError
from cutout.messages import read_message
from cutout.state import BackfillRequest, SourceObject

ROOT = Path(__file__).resolve().parents[2]
REQUEST = BackfillRequest(SourceObject("cutout-input", "uploads/café 1.jpg", etag="9b2cf535f27731c9"))


def body(**changes) -> dict:
    return {**json.loads(REQUEST.to_message()), **changes}


def test_the_message_names_itself_its_schema_and_the_object_as_listed():
    assert body() == {
        "message": "cutout.backfill",
        "schema": 1,
        "bucket": "cutout-input",
        "key": "uploads/café 1.jpg",
        "etag": '"9b2cf535f27731c9"',  # as ListObjectsV2 lists it: quoted
    }


def test_a_request_survives_the_round_trip():
    assert BackfillRequest.from_message(body()) == REQUEST


def test_an_etag_without_its_quotes_reads_the_same():
    assert BackfillRequest.from_message(body(etag="9b2cf535f27731c9")) == REQUEST


def test_the_state_machine_sends_exactly_the_fields_admission_reads():
    asl = json.loads((ROOT / "statemachine" / "backfill.asl.json").read_text())
    [task] = asl["States"]["SendOnePerObject"]["ItemProcessor"]["States"].values()
    sent = {name.removesuffix(".$") for name in task["Parameters"]["MessageBody"]}
    assert sent == set(body())
    assert task["Parameters"]["MessageBody"]["message"] == BackfillRequest.MESSAGE
    assert task["Parameters"]["MessageBody"]["schema"] == BackfillRequest.SCHEMA
    assert (task["Parameters"]["MessageBody"]["key.$"], task["Parameters"]["MessageBody"]["etag.$"]) == (
        "$.Key",
        "$.Etag",
    )


def test_a_backfill_message_is_read_as_one_request():
    assert read_message(REQUEST.to_message()) == [REQUEST]


def test_only_a_body_that_says_it_is_a_backfill_request_is_one():
    assert BackfillRequest.is_one(body())
    assert not BackfillRequest.is_one({**body(), "message": "cutout.reprocess"})
    assert not BackfillRequest.is_one([body()])


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"schema": 2}, "schema 2"),
        ({"schema": "1"}, "schema '1'"),
        ({"key": ""}, "bucket and key must be non-empty strings"),
        ({"bucket": None}, "bucket and key must be non-empty strings"),
        ({"etag": ""}, "etag must be a non-empty string"),
        ({"etag": '""'}, "etag must be a non-empty string"),
        ({"etag": None}, "etag must be a non-empty string"),
        ({"version_id": "v1"}, "fields"),
    ],
)
def test_a_request_that_is_not_exactly_schema_1_is_malformed(changes, problem):
    with pytest.raises(MalformedMessageError, match="backfill request not understood") as raised:
        read_message(json.dumps(body(**changes)))
    assert problem in str(raised.value)


def test_a_request_without_a_field_is_malformed():
    message = body()
    del message["etag"]
    with pytest.raises(MalformedMessageError, match="fields"):
        BackfillRequest.from_message(message)
