"""NovitaClient over a scripted PoolManager: the exact requests it sends, and the named error (with the
message a failure record shows) for every way an answer can go wrong."""

import json
from dataclasses import replace

import pytest
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from cutout.errors import (
    ProviderAuthError,
    ProviderProtocolError,
    ProviderRejectedError,
    ProviderSubmitUncertainError,
    ProviderTaskNotFoundError,
    ProviderThrottledError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from cutout.novita import DEFAULT_TIMEOUT, NovitaClient, client_from, new_pool_manager
from tests.support.events import load_event
from tests.support.fake_http import FakePoolManager, FakeResponse

API_KEY = "sk_live_7d2f4c9a1b3e5f60"
BASE_URL = "https://api.novita.ai"
SUBMIT_URL = f"{BASE_URL}/v3/async/image-remove-background"
RESULT_URL = f"{BASE_URL}/v3/async/task-result"
TASK_ID = "8f0b7c0e-5b1a-4e0f-9a57-2f3e8d1c6b4a"
IMAGE_URL = (
    "https://cutout-uploads.s3.amazonaws.com/uploads/cat.jpg"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900&X-Amz-Signature=3b1f0c"
)
TIMEOUT = urllib3.Timeout(connect=3.05, read=20)


def ok(body: object) -> FakeResponse:
    return FakeResponse(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def novita(
    *answers: FakeResponse | BaseException, base_url: str = BASE_URL
) -> tuple[NovitaClient, FakePoolManager]:
    http = FakePoolManager(*answers)
    return NovitaClient(base_url, lambda: API_KEY, http, TIMEOUT), http  # type: ignore[arg-type]


def read_timeout() -> ReadTimeoutError:
    return ReadTimeoutError(None, "/v3", "Read timed out. (read timeout=20)")  # type: ignore[arg-type]


def new_connection_error() -> NewConnectionError:
    return NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]


# --- the requests ------------------------------------------------------------------------------------
def test_submit_posts_the_image_url_as_json_with_the_bearer_key_and_returns_the_task_id():
    client, http = novita(ok({"task_id": TASK_ID}))

    task_id = client.submit(IMAGE_URL)

    assert task_id == TASK_ID
    [request] = http.requests
    assert json.loads(request.pop("body")) == {"image": IMAGE_URL}
    assert request == {
        "method": "POST",
        "url": SUBMIT_URL,
        "fields": None,
        "headers": {
            "Authorization": f"Bearer {API_KEY}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
        "timeout": TIMEOUT,
        "retries": False,
    }


def test_task_result_gets_the_task_by_id_without_a_body():
    client, http = novita(ok(load_event("provider/task_result_processing.json")))

    result = client.task_result(TASK_ID)

    assert (result.task_id, result.status, result.progress_percent) == (TASK_ID, "PROCESSING", 40)
    assert http.requests == [
        {
            "method": "GET",
            "url": RESULT_URL,
            "fields": {"task_id": TASK_ID},
            "body": None,
            "headers": {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"},
            "timeout": TIMEOUT,
            "retries": False,
        }
    ]


def test_a_status_answer_without_its_task_id_keeps_the_asked_one():
    body = load_event("provider/task_result_succeed.json")
    del body["task"]["task_id"]
    client, _ = novita(ok(body))
    assert client.task_result(TASK_ID).task_id == TASK_ID


def test_a_trailing_slash_on_the_base_url_does_not_double_the_path_separator():
    client, http = novita(ok({"task_id": TASK_ID}), base_url=BASE_URL + "/")
    client.submit(IMAGE_URL)
    assert http.requests[0]["url"] == SUBMIT_URL


def test_the_key_is_asked_for_at_each_request_not_when_the_client_is_made():
    keys = iter(["sk_old_key", "sk_rotated_key"])
    http = FakePoolManager(ok({"task_id": "t1"}), ok({"task_id": "t2"}))
    client = NovitaClient(BASE_URL, lambda: next(keys), http)  # type: ignore[arg-type]
    client.submit(IMAGE_URL)
    client.submit(IMAGE_URL)
    assert [r["headers"]["Authorization"] for r in http.requests] == [
        "Bearer sk_old_key",
        "Bearer sk_rotated_key",
    ]


def test_a_client_made_from_settings_uses_the_provider_url_and_read_timeout(settings):
    http = FakePoolManager(ok({"task_id": TASK_ID}))
    client = client_from(replace(settings, provider_timeout_seconds=25), lambda: API_KEY, http)  # type: ignore[arg-type]

    client.submit(IMAGE_URL)

    [request] = http.requests
    assert request["url"] == settings.provider_base_url + "/v3/async/image-remove-background"
    assert request["timeout"].connect_timeout == DEFAULT_TIMEOUT.connect_timeout
    assert request["timeout"].read_timeout == 25


def test_the_shared_pool_manager_never_retries_on_its_own_and_bounds_every_wait():
    http = new_pool_manager()
    retries = http.connection_pool_kw["retries"]
    assert (retries.total, retries.redirect) == (False, 0)  # no retry and no redirect followed
    timeout = http.connection_pool_kw["timeout"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (DEFAULT_TIMEOUT.connect_timeout, 10.0)


def test_the_shared_pool_manager_opens_pools_for_the_provider_and_the_result_host():
    http = new_pool_manager()
    for url in (BASE_URL, "https://faas-output-image.s3.ap-southeast-1.amazonaws.com/prod/0.png"):
        assert http.connection_from_url(url).pool is not None  # made without connecting


def test_a_client_made_without_a_timeout_waits_ten_seconds_for_an_answer():
    http = FakePoolManager(read_timeout())
    client = NovitaClient(BASE_URL, lambda: API_KEY, http)  # type: ignore[arg-type]
    with pytest.raises(ProviderSubmitUncertainError, match=r"within 10\.0 s"):
        client.submit(IMAGE_URL)


# --- answers that are not a task id ------------------------------------------------------------------
@pytest.mark.parametrize("body", [{}, {"task_id": ""}, {"task_id": 12345}, {"task_id": None}])
def test_a_submit_answer_without_a_string_task_id_is_a_protocol_error(body):
    client, _ = novita(ok(body))
    with pytest.raises(ProviderProtocolError, match=r"^submit answered without a task_id$"):
        client.submit(IMAGE_URL)


def test_a_non_json_answer_is_a_protocol_error_naming_the_request():
    client, _ = novita(FakeResponse(200, b"<html>maintenance</html>"))
    with pytest.raises(ProviderProtocolError) as caught:
        client.task_result(TASK_ID)
    assert str(caught.value) == "GET /v3/async/task-result answered 200 with a non-JSON body"


def test_a_json_answer_that_is_not_an_object_is_a_protocol_error():
    client, _ = novita(ok([{"task_id": TASK_ID}]))
    with pytest.raises(ProviderProtocolError) as caught:
        client.submit(IMAGE_URL)
    assert str(caught.value) == "POST /v3/async/image-remove-background answered a JSON list, not an object"


# --- HTTP error answers ------------------------------------------------------------------------------
def test_a_400_answer_is_rejected_with_the_providers_reason():
    body = json.dumps(load_event("provider/error_invalid_body.json")).encode()
    client, _ = novita(FakeResponse(400, body))
    with pytest.raises(ProviderRejectedError) as caught:
        client.submit(IMAGE_URL)
    assert str(caught.value) == (
        "/v3/async/image-remove-background answered HTTP 400: INVALID_REQUEST_BODY 400 image is required"
    )


def test_a_429_answer_carries_the_retry_after_header():
    body = json.dumps(load_event("provider/error_rate_limited.json")).encode()
    client, _ = novita(FakeResponse(429, body, {"Retry-After": "17"}))
    with pytest.raises(ProviderThrottledError) as caught:
        client.submit(IMAGE_URL)
    assert caught.value.retry_after == 17.0
    assert "RATE_LIMIT_EXCEEDED" in str(caught.value)


def test_an_unknown_task_is_reported_as_not_found():
    client, _ = novita(
        FakeResponse(404, b'{"code": 404, "reason": "TASK_NOT_FOUND", "message": "task not found"}')
    )
    with pytest.raises(ProviderTaskNotFoundError, match="TASK_NOT_FOUND"):
        client.task_result(TASK_ID)


def test_a_401_answer_is_an_auth_error_that_never_shows_the_key():
    client, _ = novita(
        FakeResponse(401, b'{"code": 401, "reason": "INVALID_API_KEY", "message": "invalid key"}')
    )
    with pytest.raises(ProviderAuthError) as caught:
        client.submit(IMAGE_URL)
    assert "INVALID_API_KEY" in str(caught.value)
    assert API_KEY not in str(caught.value)


def test_a_503_answer_is_unavailable():
    client, _ = novita(FakeResponse(503, b"Service Unavailable"))
    with pytest.raises(ProviderUnavailableError) as caught:
        client.task_result(TASK_ID)
    assert str(caught.value) == "/v3/async/task-result answered HTTP 503: Service Unavailable"


# --- transport failures ------------------------------------------------------------------------------
def test_a_refused_connection_is_unavailable_not_a_timeout():
    client, _ = novita(new_connection_error())
    with pytest.raises(ProviderUnavailableError) as caught:
        client.submit(IMAGE_URL)
    assert str(caught.value) == "POST /v3/async/image-remove-background failed: NewConnectionError"


def test_an_unanswered_submission_is_uncertain_and_not_resubmitted():
    client, http = novita(read_timeout())
    with pytest.raises(ProviderSubmitUncertainError) as caught:
        client.submit(IMAGE_URL)
    assert str(caught.value) == (
        "no answer to the submission within 20 s: the provider may have created a task anyway, "
        "so it is not resubmitted (upload the image again to retry)"
    )
    assert len(http.requests) == 1


def test_an_unanswered_status_request_is_a_timeout():
    client, _ = novita(read_timeout())
    with pytest.raises(ProviderTimeoutError) as caught:
        client.task_result(TASK_ID)
    assert str(caught.value) == "GET /v3/async/task-result timed out waiting for the answer"


@pytest.mark.parametrize("method", ["submit", "task_result"])
def test_a_connect_timeout_is_a_timeout_whichever_the_request(method):
    client, _ = novita(ConnectTimeoutError("Connection to api.novita.ai timed out. (connect timeout=3.05)"))
    with pytest.raises(ProviderTimeoutError, match=r"timed out: ConnectTimeoutError$"):
        getattr(client, method)(IMAGE_URL if method == "submit" else TASK_ID)


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (
            ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer")),
            "ProtocolError",
        ),
        (SSLError("certificate verify failed"), "SSLError"),
    ],
)
def test_any_other_transport_failure_is_unavailable(error, name):
    client, _ = novita(error)
    with pytest.raises(ProviderUnavailableError) as caught:
        client.task_result(TASK_ID)
    assert str(caught.value) == f"GET /v3/async/task-result failed: {name}"
