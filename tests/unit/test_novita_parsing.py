import json
from unittest import mock

import pytest

from cutout.errors import (
    ProviderAuthError,
    ProviderBillingError,
    ProviderProtocolError,
    ProviderRejectedError,
    ProviderTaskNotFoundError,
    ProviderThrottledError,
    ProviderUnavailableError,
)
from cutout.novita import (
    RESULT_PATH,
    SUBMIT_PATH,
    ResultImage,
    TaskResult,
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


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
@pytest.mark.parametrize(
    "body",
    [
        b'{"code": 403, "reason": "BILLING_BALANCE_NOT_ENOUGH", "message": "top up"}',
        b'{"code": 400, "reason": "billing_failed", "message": "card declined"}',
        b'{"error": {"code": 403, "reason": "BILLING_AUTH_FAILED", "message": "m"}}',
    ],
)
def test_a_billing_refusal_is_a_billing_error_whatever_its_status(status, body):
    """Topping up ends it: an outage of the account, which pauses the pipeline (cutout.health)."""
    error = http_error(status, body, None, SUBMIT_PATH)
    assert type(error) is ProviderBillingError
    assert isinstance(error, ProviderUnavailableError)


@pytest.mark.parametrize(
    "body",
    [b'{"reason": "INVALID_REQUEST_BODY"}', b'{"message": "BILLING_FAILED"}', b"BILLING_FAILED", b"[]"],
)
def test_only_a_billing_reason_makes_a_billing_error(body):
    assert not isinstance(http_error(400, body, None, SUBMIT_PATH), ProviderBillingError)


def test_retry_after_is_carried_on_throttling():
    assert http_error(429, b"", "7", SUBMIT_PATH).retry_after == 7.0


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("12", 12.0), ("soon", None)])
def test_retry_after_parsing(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_as_http_date_in_the_past_is_zero():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_a_finished_task_is_read_in_full():
    body = load_event("provider/task_result_succeed.json")
    result = parse_task_result(body, "8f0b7c0e-5b1a-4e0f-9a57-2f3e8d1c6b4a")
    assert result == TaskResult(
        task_id="8f0b7c0e-5b1a-4e0f-9a57-2f3e8d1c6b4a",
        status="SUCCEED",
        reason="",
        eta=None,
        progress_percent=100,
        images=(ResultImage(url=body["images"][0]["image_url"], ttl_seconds=3600, image_type="png"),),
        duration=2.652,  # extra.debug_info: complete_time_ms - submit_time_ms
    )


@pytest.mark.parametrize(
    "debug_info",
    [
        None,
        "not an object",
        {"submit_time_ms": "1795939201250"},
        {"submit_time_ms": "soon", "complete_time_ms": "1795939203902"},
        {"submit_time_ms": "1795939203902", "complete_time_ms": "1795939201250"},  # ends before it began
    ],
)
def test_a_finished_task_without_readable_times_has_no_duration_and_is_still_read(debug_info):
    body = load_event("provider/task_result_succeed.json")
    body["extra"]["debug_info"] = debug_info
    result = parse_task_result(body, "t")
    assert (result.status, result.duration) == ("SUCCEED", None)
    del body["extra"]
    assert parse_task_result(body, "t").duration is None


def test_a_running_task_has_no_duration_whatever_its_times_say():
    body = load_event("provider/task_result_processing.json")
    body["extra"] = {"debug_info": {"submit_time_ms": "1795939201250", "complete_time_ms": "1795939203902"}}
    assert parse_task_result(body, "t").duration is None


def test_the_task_id_of_the_body_wins_and_the_asked_one_fills_in_when_absent():
    body = load_event("provider/task_result_queued.json")
    assert parse_task_result(body, "asked-id").task_id == "8f0b7c0e-5b1a-4e0f-9a57-2f3e8d1c6b4a"
    del body["task"]["task_id"]
    assert parse_task_result(body, "asked-id").task_id == "asked-id"


def test_progress_and_eta_are_read_as_numbers_whatever_their_json_type():
    body = load_event("provider/task_result_processing.json")
    body["task"].update(eta="2.5", progress_percent=40.0)
    result = parse_task_result(body, "t")
    assert (result.eta, result.progress_percent) == (2.5, 40)
    assert type(result.progress_percent) is int


def test_absent_progress_is_none():
    body = load_event("provider/task_result_queued.json")
    del body["task"]["progress_percent"]
    assert parse_task_result(body, "t").progress_percent is None


def test_a_boolean_is_not_read_as_a_number():
    body = load_event("provider/task_result_processing.json")
    body["task"].update(eta=True, progress_percent=False)
    result = parse_task_result(body, "t")
    assert (result.eta, result.progress_percent) == (None, None)


def test_a_number_field_that_is_not_a_number_is_a_protocol_error():
    body = load_event("provider/task_result_processing.json")
    body["task"]["eta"] = "soon"
    with pytest.raises(ProviderProtocolError, match=r"^expected a number, got 'soon'$"):
        parse_task_result(body, "t")


@pytest.mark.parametrize("images", [None, []])
def test_null_or_empty_images_mean_no_images(images):
    body = load_event("provider/task_result_queued.json")
    body["images"] = images
    assert parse_task_result(body, "t").images == ()


def test_an_image_without_ttl_or_type_keeps_its_url():
    body = load_event("provider/task_result_succeed.json")
    body["images"] = [{"image_url": "https://cdn.novita.ai/results/0.png", "image_url_ttl": ""}]
    [image] = parse_task_result(body, "t").images
    assert image == ResultImage(url="https://cdn.novita.ai/results/0.png", ttl_seconds=None, image_type=None)


def test_a_failure_reason_loses_the_signature_of_any_url_in_it():
    body = load_event("provider/task_result_failed.json")
    body["task"]["reason"] = (
        "failed to download image https://b.s3.amazonaws.com/k.jpg?X-Amz-Signature=abc (403)"
    )
    assert (
        parse_task_result(body, "t").reason
        == "failed to download image https://b.s3.amazonaws.com/k.jpg?… (403)"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"images": []}, "task-result body has no 'task' object"),
        ({"task": "TASK_STATUS_SUCCEED"}, "task-result body has no 'task' object"),
        ({"task": {"task_id": "t"}}, "task-result body has no status"),
        (
            {"task": {"status": "TASK_STATUS_SUCCEED"}, "images": {"image_url": "https://x"}},
            "task-result 'images' is not a list",
        ),
        (
            {"task": {"status": "TASK_STATUS_SUCCEED"}, "images": ["https://x"]},
            "task-result image has no image_url",
        ),
        (
            {"task": {"status": "TASK_STATUS_SUCCEED"}, "images": [{"image_url": 7}]},
            "task-result image has no image_url",
        ),
    ],
)
def test_each_malformed_body_says_what_is_wrong(body, message):
    with pytest.raises(ProviderProtocolError) as caught:
        parse_task_result(body, "t")
    assert str(caught.value) == message


@pytest.mark.parametrize("status", ["TASK_STATUS_CANCELLED", "TASK_STATUS_UNSPECIFIED", "DONE"])
def test_a_status_we_do_not_know_is_unknown_and_not_finished(status):
    body = load_event("provider/task_result_processing.json")
    body["task"]["status"] = status
    result = parse_task_result(body, "t")
    assert (result.status, result.finished) == ("UNKNOWN", False)


def test_http_error_message_names_the_path_the_status_and_the_reason():
    body = json.dumps(load_event("provider/error_invalid_body.json")).encode()
    assert str(http_error(400, body, None, SUBMIT_PATH)) == (
        "/v3/async/image-remove-background answered HTTP 400: INVALID_REQUEST_BODY 400 image is required"
    )


@pytest.mark.parametrize(
    ("status", "path", "error"),
    [
        (402, SUBMIT_PATH, ProviderRejectedError),
        (404, SUBMIT_PATH, ProviderRejectedError),
        (499, RESULT_PATH, ProviderRejectedError),
        (504, SUBMIT_PATH, ProviderUnavailableError),
    ],
)
def test_statuses_next_to_the_named_ones(status, path, error):
    assert type(http_error(status, b"{}", None, path)) is error


def test_throttling_without_retry_after_has_none():
    assert http_error(429, b"", None, RESULT_PATH).retry_after is None


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"", "(empty body)"),
        (b"<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway</body></html>"),
        (b"\xff\xfe gateway error", "\ufffd\ufffd gateway error"),
        (b"[1, 2]", "(unreadable error body)"),
        (b"{}", "(no reason given)"),
        (b'{"error": "quota"}', "(no reason given)"),
        (b'{"code": 403, "reason": "", "message": null}', "403"),
        (b'{"reason": "BILLING_FAILED", "message": "card declined"}', "BILLING_FAILED card declined"),
        (b'{"error": {"message": "insufficient balance", "code": 402}}', "402 insufficient balance"),
    ],
)
def test_error_detail_of_each_body(data, detail):
    assert error_detail(data) == detail


def test_a_non_json_error_body_is_cut_to_200_characters_and_loses_url_signatures():
    data = b"cannot fetch https://b.s3.amazonaws.com/k.jpg?X-Amz-Signature=abc " + b"x" * 400
    detail = error_detail(data)
    assert detail.startswith("cannot fetch https://b.s3.amazonaws.com/k.jpg?… xxx")
    assert detail == error_detail(data[:200])


def test_an_error_message_is_cut_to_300_characters():
    data = json.dumps({"reason": "INVALID_REQUEST_BODY", "message": "m" * 1000}).encode()
    assert error_detail(data) == ("INVALID_REQUEST_BODY " + "m" * 1000)[:300]


def test_retry_after_tolerates_surrounding_spaces():
    assert parse_retry_after(" 30 ") == 30.0


def test_retry_after_as_http_date_counts_the_seconds_from_now():
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    with mock.patch("cutout.novita.time.time", return_value=now - 45):
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 45.0
