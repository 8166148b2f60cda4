import io

import pytest
from PIL import Image

from cutout.errors import ResultDownloadError, ResultRejectedError
from cutout.keys import output_key, variant_key
from tests.support.events import load_event
from tests.support.images import photo
from tests.support.world import INPUT_BUCKET, OUTPUT_BUCKET, SETTINGS

KEY = "uploads/my holiday photo(1).jpg"
OUTPUT_KEY = output_key(KEY, SETTINGS)  # "cutouts/my holiday photo(1).png"


def write_event(task_id: str) -> dict:
    event = load_event("write_result.json")
    event["task_id"] = task_id
    event["source"]["bucket"] = INPUT_BUCKET
    return event


def test_cutout_is_streamed_into_the_output_bucket(world):
    task_id = world.finished_task(KEY, photo(320, 240))

    result = world.invoke(world.load("write_result"), write_event(task_id))

    obj = world.output(OUTPUT_KEY)
    image = Image.open(io.BytesIO(obj["Body"].read()))
    assert result == {
        "bucket": OUTPUT_BUCKET,
        "key": OUTPUT_KEY,
        "bytes": obj["ContentLength"],
        "wait_seconds": 0,
        "outputs": [
            {
                "bucket": OUTPUT_BUCKET,
                "key": OUTPUT_KEY,
                "bytes": obj["ContentLength"],
                "format": "png",
                "variant": None,
            }
        ],
    }
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (320, 240))
    assert image.getchannel("A").getextrema() != (255, 255)  # a real alpha channel
    assert obj["ContentType"] == "image/png"
    assert obj["Metadata"] == {
        "source-bucket": INPUT_BUCKET,
        "source-key": "uploads/my%20holiday%20photo%281%29.jpg",
        "source-version": load_event("write_result.json")["source"]["version_id"],
        "source-etag": load_event("write_result.json")["source"]["etag"],
        "task-id": task_id,
        "attempt": "0",
    }


def test_writing_the_same_result_twice_is_harmless(world):
    task_id = world.finished_task(KEY, photo())
    app = world.load("write_result")
    first = world.invoke(app, write_event(task_id))
    second = world.invoke(app, write_event(task_id))
    assert first == second
    assert world.output_keys() == [OUTPUT_KEY]


@pytest.mark.parametrize(
    ("fault", "overrides", "error", "message"),
    [
        (
            {},
            {"RESULT_URL_ALLOWED_HOSTS": "*.amazonaws.com"},
            ResultRejectedError,
            "not in RESULT_URL_ALLOWED_HOSTS",
        ),
        ({"download_not_image_next": 1}, {}, ResultRejectedError, "not a PNG"),
        (
            {"download_inflated_next": 1, "download_inflated_bytes": 300_000},
            {"MAX_RESULT_BYTES": "200000"},
            ResultRejectedError,
            "over MAX_RESULT_BYTES",
        ),
        ({"download_expired_next": 1}, {}, ResultDownloadError, "HTTP 403"),
        ({"download_broken_next": 1}, {}, ResultDownloadError, "HTTP 404"),
    ],
)
def test_unusable_results_are_refused_and_nothing_is_written(world, fault, overrides, error, message):
    world.provider.faults.update(**fault)
    task_id = world.finished_task(KEY, photo())
    with pytest.raises(error, match=message):
        world.invoke(world.load("write_result", **overrides), write_event(task_id))
    assert world.output_keys() == []


def test_a_task_that_did_not_succeed_has_no_cutout(world):
    world.provider.faults.update(task_fail_next=1)
    task_id = world.finished_task(KEY, photo())
    with pytest.raises(ResultRejectedError, match="FAILED"):
        world.invoke(world.load("write_result"), write_event(task_id))


def test_an_older_upload_never_overwrites_a_newer_ones_cutout(world):
    """Notifications can arrive out of order: S3's sequencer says which upload of a key is newer."""
    app = world.load("write_result")
    newer = write_event(world.finished_task(KEY, photo(90, 60)))
    newer["source"].update(sequencer="0055AED6DCD90281E6", version_id="v-newer", etag="e-newer")
    older = write_event(world.finished_task(KEY, photo(60, 40)))
    older["source"].update(sequencer="0055AED6DCD90281E5", version_id="v-older", etag="e-older")

    world.invoke(app, newer)
    skipped = world.invoke(app, older)

    assert skipped["bytes"] == 0
    obj = world.output(OUTPUT_KEY)
    assert obj["Metadata"]["source-sequencer"] == "0055AED6DCD90281E6"
    assert Image.open(io.BytesIO(obj["Body"].read())).size == (90, 60)


def test_the_variants_an_upload_asked_for_are_each_written(world):
    task_id = world.finished_task(KEY, photo(320, 240))
    event = {**load_event("write_result_variants.json"), "task_id": task_id}
    event["source"]["bucket"] = INPUT_BUCKET

    result = world.invoke(world.load("write_result"), event)

    thumb_key = variant_key(KEY, SETTINGS, "thumb", ".webp")
    assert [(o["key"], o["format"], o["variant"]) for o in result["outputs"]] == [
        (OUTPUT_KEY, "png", "full"),
        (thumb_key, "webp", "thumb"),
    ]
    thumb = Image.open(io.BytesIO(world.output(thumb_key)["Body"].read()))
    assert thumb.format == "WEBP"
    assert max(thumb.size) <= 256
