import json

import pytest

from cutout.errors import (
    ProviderAuthError,
    ProviderProtocolError,
    ProviderRejectedError,
    ProviderTaskNotFoundError,
    ProviderThrottledError,
    ProviderUnavailableError,
)
from cutout.novita import (
    RESULT_PATH,
    SUBMIT_PATH,
    error_detail,
    http_error,
    parse_retry_after,
    parse_task_result,
)
from tests.support.events import load_event


@pytest.mark.parametrize(
    ("name", "status", "eta", "images"),
    [
        ("task_result_queued.json", "QUEUED", 4.0, 0),
        ("task_result_processing.json", "PROCESSING", 2.0, 0),
        ("task_result_processing_no_eta.json", "PROCESSING", None, 0),
        ("task_result_succeed.json", "SUCCEED", None, 1),
        ("task_result_failed.json", "FAILED", None, 0),
        ("task_result_unknown.json", "UNKNOWN", None, 0),
    ],
)
def test_every_status_body(name, status, eta, images):
    result = parse_task_result(load_event(f"provider/{name}"), "t")
    assert (result.status, result.eta, len(result.images)) == (status, eta, images)
    assert result.finished == (status in {"SUCCEED", "FAILED"})


@pytest.mark.parametrize("name", ["task_result_succeed.json", "task_result_succeed_ttl_string.json"])
def test_image_url_ttl_as_number_or_string(name):
    [image] = parse_task_result(load_event(f"provider/{name}"), "t").images
    assert image.ttl_seconds == 3600
    assert image.url.startswith("https://")


def test_failure_reason_is_kept():
    result = parse_task_result(load_event("provider/task_result_failed.json"), "t")
    assert result.reason == "failed to download image: HTTP 403"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"task": "x"},
        {"task": {"status": 3}},
        {"task": {"status": "TASK_STATUS_SUCCEED"}, "images": [{"x": 1}]},
    ],
)
def test_malformed_bodies_are_protocol_errors(body):
    with pytest.raises(ProviderProtocolError):
        parse_task_result(body, "t")


def test_both_error_body_shapes_are_read():
    assert "INVALID_REQUEST_BODY" in error_detail(
        json.dumps(load_event("provider/error_invalid_body.json")).encode()
    )
    nested = error_detail(json.dumps(load_event("provider/error_nested.json")).encode())
    assert "BILLING_BALANCE_NOT_ENOUGH" in nested
    assert "insufficient balance" in nested


def test_urls_in_error_text_lose_their_signature():
    detail = error_detail(b'{"message": "cannot fetch https://b.s3.amazonaws.com/k.jpg?X-Amz-Signature=abc"}')
    assert "X-Amz-Signature" not in detail
    assert "https://b.s3.amazonaws.com/k.jpg" in detail


@pytest.mark.parametrize(
    ("status", "path", "error"),
    [
        (429, SUBMIT_PATH, ProviderThrottledError),
        (500, SUBMIT_PATH, ProviderUnavailableError),
        (503, RESULT_PATH, ProviderUnavailableError),
        (401, SUBMIT_PATH, ProviderAuthError),
        (403, SUBMIT_PATH, ProviderAuthError),
        (404, RESULT_PATH, ProviderTaskNotFoundError),
        (400, SUBMIT_PATH, ProviderRejectedError),
    ],
)
def test_http_status_maps_to_named_error(status, path, error):
    assert isinstance(http_error(status, b"{}", None, path), error)


def test_retry_after_is_carried_on_throttling():
    assert http_error(429, b"", "7", SUBMIT_PATH).retry_after == 7.0


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("12", 12.0), ("soon", None)])
def test_retry_after_parsing(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_as_http_date_in_the_past_is_zero():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
