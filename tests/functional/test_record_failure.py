from datetime import datetime

import pytest

from cutout.keys import failure_key
from tests.support.events import load_event
from tests.support.world import INPUT_BUCKET, SETTINGS

KEY = "uploads/my holiday photo(1).jpg"


@pytest.mark.parametrize(
    ("sample", "error", "reason", "provider_reason"),
    [
        ("record_failure_catch.json", "ResultRejectedError", "result is 'text/html', not an image", None),
        (
            "record_failure_task_failed.json",
            "ProviderTaskFailedError",
            "failed to download image: HTTP 403",
            "failed to download image: HTTP 403",
        ),
    ],
)
def test_failure_record_says_why(world, sample, error, reason, provider_reason):
    event = load_event(sample)
    event["source"]["bucket"] = INPUT_BUCKET

    result = world.invoke(world.load("record_failure"), event)

    record = world.failure_record(KEY)
    assert result["key"] == failure_key(KEY, SETTINGS)
    assert record["source"] == {**event["source"], "sequencer": None}
    assert (record["error"], record["reason"], record["provider_reason"]) == (error, reason, provider_reason)
    assert record["task_id"] == event["task_id"]
    assert record["polls"] == event["polls"]
    assert datetime.fromisoformat(record["recorded_at"]).tzinfo is not None
    assert "stackTrace" not in str(record)
