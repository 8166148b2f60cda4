"""ConvertFunction loaded as Lambda would, against emulated S3, then SendFunction handing the provider the
staged PNG: the local provider (PNG and JPEG only, as Novita) cuts out what the upload was a HEIC of."""

import io
import time

import pytest
from PIL import Image

from cutout.errors import ImageConversionError
from cutout.keys import staging_key
from cutout.state import SourceObject
from tests.support.events import load_event
from tests.support.images import photo
from tests.support.world import INPUT_BUCKET

KEY = "uploads/IMG_0001.HEIC"


def admitted(world, body: bytes, convert_from: str = "heic") -> dict:
    """The sample execution input for an upload of ``body`` at KEY, to convert, its slot come."""
    put = world.upload(KEY, body)
    state = load_event("execution_input.json")
    state["source"].update(
        bucket=INPUT_BUCKET, key=KEY, version_id=put["VersionId"], etag=put["ETag"].strip('"')
    )
    state["slot"] = {"at": time.time(), "wait_seconds": 0}
    state["convert_from"] = convert_from
    return state


def staged_key(world, state: dict) -> str:
    return staging_key(SourceObject.from_dict(state["source"]), world.settings)


def test_a_heic_is_staged_as_png_and_the_provider_cuts_out_that_copy(world):
    state = admitted(world, photo(320, 240, "HEIF", quality=90))

    assert world.invoke(world.load("convert"), state) == state
    staged = Image.open(io.BytesIO(world.output(staged_key(world, state))["Body"].read()))
    assert (staged.format, staged.size) == ("PNG", (320, 240))

    submitted = world.invoke(world.load("send"), state)
    deadline = time.monotonic() + 60
    while not (result := world.novita.task_result(submitted["task_id"])).finished:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert result.status == "SUCCEED", result.reason


def test_the_staged_copy_is_outside_the_outputs_users_read(world):
    state = admitted(world, photo(64, 48, "WEBP"), "webp")
    world.invoke(world.load("convert"), state)
    [staged] = [key for key in world.output_keys() if key.startswith(world.settings.staging_prefix)]
    assert not staged.startswith((world.settings.output_prefix, world.settings.failure_prefix))
    assert KEY not in staged  # named by a digest, not the upload's key


def test_an_undecodable_upload_raises_the_error_the_state_machine_routes_to_record_failure(world):
    state = admitted(world, photo(320, 240, "HEIF", quality=90)[:400])
    with pytest.raises(ImageConversionError, match=r"^HEIC could not be decoded: "):
        world.invoke(world.load("convert"), state)
    assert not [key for key in world.output_keys() if key.startswith(world.settings.staging_prefix)]
