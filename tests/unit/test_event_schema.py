"""The completion events' written schema (events/schema/cutout-event.schema.json, JSON Schema 2020-12)
holds for the sample events and for every event the code builds, and refuses what it must refuse."""

import json
import uuid
from datetime import UTC

import jsonschema
import pytest

from cutout.events import SCHEMA_VERSION, SOURCE, CompletionEvent, Timings, cutout_created, cutout_failed
from cutout.options import FORMATS, MAX_VARIANTS
from cutout.state import OutputWritten, ResultRequest, SourceObject, Written
from tests.support.events import load_event
from tests.support.subscription import schema_validator

VALIDATOR = schema_validator()
SCHEMA = VALIDATOR.schema
UPLOAD = SourceObject("cutout-input", "uploads/a.jpg", version_id=None, etag="9b2cf535")
NOW = 1795939207.873


def delivered(event: CompletionEvent) -> dict:
    """The event as a rule's target receives it: EventBridge's envelope around the entry."""
    entry = event.entry("default")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": entry["Time"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": json.loads(entry["Detail"]),
    }


def created(*outputs: OutputWritten) -> dict:
    request = ResultRequest(UPLOAD, "task-1", admitted_at=NOW - 9, submitted_at=NOW - 6)
    written = Written("cutout-output", outputs[0].key, outputs[0].bytes, outputs=outputs)
    event = cutout_created(request, written, finished_at=NOW)
    assert event is not None
    return delivered(event)


REFUSED_AT_ADMISSION = Timings(None, None, NOW)


def failed(task_id: str | None = None, timings: Timings = REFUSED_AT_ADMISSION) -> dict:
    event = cutout_failed(
        UPLOAD,
        error="UnsupportedInputError",
        reason="not an image",
        record_bucket="cutout-output",
        record_key="failures/uploads/a.jpg.json",
        task_id=task_id,
        attempt=0,
        timings=timings,
    )
    return delivered(event)


PNG = OutputWritten("cutout-output", "cutouts/a.png", 1024, "png")


def test_the_schema_is_valid_json_schema_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("name", ["cutout_created.json", "cutout_failed.json"])
def test_the_sample_events_hold(name):
    VALIDATOR.validate(load_event(name))


def test_the_events_the_code_builds_hold():
    webp = OutputWritten("cutout-output", "cutouts/thumb/a.webp", 512, "webp", "thumb")
    for event in (
        created(PNG),
        created(PNG, webp),
        failed(),
        failed("task-1", Timings(NOW - 9, NOW - 6, NOW)),
        failed(timings=Timings(NOW - 9, None, NOW)),
    ):
        VALIDATOR.validate(event)


def test_the_schema_names_the_codes_source_version_formats_and_most_outputs():
    detail = SCHEMA["$defs"]["detail"]["properties"]
    assert SCHEMA["properties"]["source"]["const"] == SOURCE
    assert detail["schema_version"]["const"] == SCHEMA_VERSION
    assert set(detail["outputs"]["items"]["properties"]["format"]["enum"]) == set(FORMATS)
    assert detail["outputs"]["maxItems"] == MAX_VARIANTS


def refused(event: dict) -> bool:
    return not VALIDATOR.is_valid(event)


def test_a_created_event_without_outputs_or_with_a_failure_is_refused():
    event = created(PNG)
    assert refused({**event, "detail": {**event["detail"], "outputs": []}})
    assert refused({**event, "detail": {**event["detail"], "failure": failed()["detail"]["failure"]}})


def test_a_failed_event_without_its_failure_or_with_outputs_is_refused():
    event = failed()
    assert refused({**event, "detail": {**event["detail"], "failure": None}})
    assert refused({**event, "detail": {**event["detail"], "outputs": [PNG.__dict__]}})


def test_an_unknown_field_or_type_or_a_time_that_is_no_time_is_refused():
    event = failed()
    assert refused({**event, "detail": {**event["detail"], "extra": 1}})
    assert refused({**event, "detail-type": "Cutout Deleted"})
    timings = {**event["detail"]["timings"], "finished_at": "yesterday"}
    assert refused({**event, "detail": {**event["detail"], "timings": timings}})
