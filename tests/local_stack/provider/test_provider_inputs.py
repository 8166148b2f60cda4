"""A task fetches its input itself; whatever is wrong with it ends the task FAILED with a clear reason."""

import socket

import pytest

from tests.local_stack.provider.provider_helpers import Api


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("path", "overrides", "reason"),
    [
        ("/missing.jpg", {}, "IMAGE_FETCH_FAILED: the image URL answered HTTP 404"),
        (
            "/slow",
            {"read_timeout": 0.3},
            "IMAGE_FETCH_FAILED: could not fetch the image URL (ReadTimeoutError)",
        ),
        ("/notes.txt", {}, "UNSUPPORTED_IMAGE_FORMAT"),
        ("/photo.jpg", {"input_formats": ("png",)}, "UNSUPPORTED_IMAGE_FORMAT"),
        ("/photo.png", {"max_input_bytes": 5000}, "IMAGE_TOO_LARGE: the image is "),
        (
            "/endless",
            {"max_input_bytes": 1024 * 1024},
            "IMAGE_TOO_LARGE: the image is more than 1048576 bytes",
        ),
        ("/photo.jpg", {"max_pixels": 10_000}, "IMAGE_TOO_MANY_PIXELS: 320x240 is more than 10000 pixels"),
    ],
)
def test_a_bad_input_fails_the_task_with_a_reason(make_provider, http, inputs, path, overrides, reason):
    api = Api(http, make_provider(**overrides))
    body = api.wait(api.task_id(inputs + path))
    assert body["task"]["status"] == "TASK_STATUS_FAILED"
    assert body["task"]["reason"].startswith(reason)
    assert body["images"] == []


def test_an_unreachable_host_fails_the_task(api):
    body = api.wait(api.task_id(f"http://127.0.0.1:{closed_port()}/photo.jpg"))
    assert body["task"]["status"] == "TASK_STATUS_FAILED"
    assert body["task"]["reason"].startswith("IMAGE_FETCH_FAILED: could not fetch the image URL")


def test_the_worker_survives_failed_tasks(api, provider, inputs):
    for path in ("/missing.jpg", "/notes.txt"):
        assert api.wait(api.task_id(inputs + path))["task"]["status"] == "TASK_STATUS_FAILED"
    assert api.wait(api.task_id(f"{inputs}/photo.jpg"))["task"]["status"] == "TASK_STATUS_SUCCEED"
    assert provider.stats()["keys"]
