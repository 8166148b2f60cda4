"""Each injected fault, seen from a client over real HTTP."""

import json
import time

import pytest
import urllib3

from cutout_local.provider import key_id
from tests.local_stack.provider.provider_helpers import KEY, PNG_SIGNATURE, Api, gift_box_scene
from tests.support.images import encode

# --- submissions ------------------------------------------------------------------------------------


def test_an_injected_429_carries_retry_after_and_is_not_accepted(api, provider, inputs, quick_tasks):
    provider.faults.update(submit_429_next=1, submit_429_retry_after=7)
    refused = api.submit(f"{inputs}/photo.jpg")
    assert refused.status == 429
    assert refused.json()["reason"] == "RATE_LIMIT_EXCEEDED"
    assert refused.headers["Retry-After"] == "7"
    assert api.submit(f"{inputs}/photo.jpg").status == 200
    stats = provider.stats()["keys"][key_id(KEY)]
    assert (stats["submit_requests"], stats["accepted"], stats["responses_429"], stats["rate_limited"]) == (
        2,
        1,
        1,
        0,
    )


def test_an_injected_429_can_come_without_retry_after(api, provider, inputs):
    provider.faults.update(submit_429_next=1, submit_429_retry_after=None)
    refused = api.submit(f"{inputs}/photo.jpg")
    assert refused.status == 429
    assert "Retry-After" not in refused.headers


@pytest.mark.parametrize(("status", "reason"), [(500, "INTERNAL_SERVER_ERROR"), (503, "SERVICE_UNAVAILABLE")])
def test_an_injected_5xx_on_submit_creates_no_task(api, provider, inputs, status, reason):
    provider.faults.update(submit_5xx_next=1, submit_5xx_status=status)
    response = api.submit(f"{inputs}/photo.jpg")
    assert (response.status, response.json()["reason"]) == (status, reason)
    assert provider.stats()["keys"][key_id(KEY)]["accepted"] == 0


def test_submit_faults_apply_to_the_sync_endpoint_too(api, provider):
    provider.faults.update(submit_5xx_next=1)
    assert api.sync(encode(gift_box_scene(), "JPEG")).status == 503


def test_a_reset_closes_the_connection_without_a_response(api, provider, inputs, quick_tasks):
    provider.faults.update(reset_next=1)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        api.submit(f"{inputs}/photo.jpg")
    assert api.submit(f"{inputs}/photo.jpg").status == 200


def test_latency_delays_every_api_call(api, provider):
    provider.faults.update(latency_seconds=0.3)
    began = time.monotonic()
    assert api.result("no-such-task").status == 404
    assert time.monotonic() - began >= 0.3


# --- polls ------------------------------------------------------------------------------------------


@pytest.fixture
def task_id(api, provider, inputs):
    """A task that fails at once (these tests are about the poll, not the engine)."""
    provider.faults.update(task_fail_next=1)
    return api.task_id(f"{inputs}/photo.jpg")


@pytest.mark.parametrize("status", [500, 503])
def test_an_injected_5xx_on_poll(api, provider, task_id, status):
    provider.faults.update(poll_5xx_next=1, poll_5xx_status=status)
    assert api.result(task_id).status == status
    assert api.result(task_id).status == 200


def test_a_malformed_poll_body(api, provider, task_id):
    provider.faults.update(poll_malformed_next=1)
    response = api.result(task_id)
    assert response.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.data)
    assert api.result(task_id).json()["task"]["task_id"] == task_id


def test_a_late_poll_answer_outlasts_a_read_timeout(api, provider, task_id):
    provider.faults.update(poll_latency_next=1, poll_latency_seconds=1.0)
    impatient = Api(
        urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=0.3)), provider
    )
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        impatient.result(task_id)
    assert api.result(task_id).json()["task"]["task_id"] == task_id


def test_poll_latency_delays_task_results_only(api, provider, inputs, quick_tasks):
    provider.faults.update(poll_latency_rate=1.0, poll_latency_seconds=0.5)
    began = time.monotonic()
    task_id = api.task_id(f"{inputs}/photo.jpg")
    submitted = time.monotonic()
    assert api.result(task_id).status == 200
    polled = time.monotonic()
    assert submitted - began < 0.5
    assert polled - submitted >= 0.5


def test_an_unknown_status(api, provider, inputs):
    task_id = api.task_id(f"{inputs}/photo.jpg")
    api.wait(task_id)
    provider.faults.update(poll_unknown_status_next=1)
    body = api.result(task_id).json()
    assert (body["task"]["status"], body["images"]) == ("TASK_STATUS_UNKNOWN", [])
    assert api.result(task_id).json()["task"]["status"] == "TASK_STATUS_SUCCEED"


@pytest.fixture
def hanging(api, provider, inputs):
    """A task that stays PROCESSING, expected to last 10 s."""
    provider.faults.update(task_hang_next=1, task_min_seconds=10)
    task_id = api.task_id(f"{inputs}/photo.jpg")
    time.sleep(0.1)
    return task_id


def test_eta_absent(api, provider, hanging):
    provider.faults.update(eta_mode="absent")
    assert "eta" not in api.result(hanging).json()["task"]


def test_eta_zero(api, provider, hanging):
    provider.faults.update(eta_mode="zero")
    assert api.result(hanging).json()["task"]["eta"] == 0


def test_eta_accurate_then_noisy(api, provider, hanging):
    accurate = api.result(hanging).json()["task"]["eta"]
    assert 7 <= accurate <= 10
    provider.faults.update(eta_mode="noisy")
    noisy = {api.result(hanging).json()["task"]["eta"] for _ in range(10)}
    assert all(isinstance(eta, int) and 1 <= eta <= 30 for eta in noisy)
    assert len(noisy) > 3


# --- tasks ------------------------------------------------------------------------------------------


def test_a_task_fails_with_the_given_reason(api, provider, inputs):
    provider.faults.update(task_fail_next=1, task_fail_reason="BILLING_FAILED: no credit left")
    failed = api.wait(api.task_id(f"{inputs}/photo.jpg"))
    assert failed["task"]["status"] == "TASK_STATUS_FAILED"
    assert failed["task"]["reason"] == "BILLING_FAILED: no credit left"
    assert failed["images"] == []


def test_a_hanging_task_never_finishes_and_blocks_nobody(api, provider, inputs, hanging):
    provider.faults.update(task_min_seconds=0)
    other = api.wait(api.task_id(f"{inputs}/photo.jpg"))
    assert other["task"]["status"] == "TASK_STATUS_SUCCEED"
    assert api.result(hanging).json()["task"]["status"] == "TASK_STATUS_PROCESSING"


def test_a_minimum_task_duration_holds_even_for_a_task_that_fails_at_once(api, provider, inputs):
    provider.faults.update(task_min_seconds=0.6, task_fail_next=1)
    body = api.wait(api.task_id(f"{inputs}/photo.jpg"))
    debug = body["extra"]["debug_info"]
    assert body["task"]["status"] == "TASK_STATUS_FAILED"
    assert int(debug["complete_time_ms"]) - int(debug["execute_time_ms"]) >= 600


# --- result URLs ------------------------------------------------------------------------------------


def result_url(api, inputs) -> str:
    return api.wait(api.task_id(f"{inputs}/photo.jpg"))["images"][0]["image_url"]


def test_a_broken_result_url(api, provider, inputs):
    provider.faults.update(download_broken_next=1)
    assert api.get(result_url(api, inputs)).status == 404
    assert api.get(result_url(api, inputs)).status == 200


def test_an_already_expired_result_url(api, provider, inputs):
    provider.faults.update(download_expired_next=1)
    response = api.get(result_url(api, inputs))
    assert response.status == 403
    assert b"Request has expired" in response.data


def test_a_result_url_that_expires_early(api, provider, inputs):
    provider.faults.update(download_expire_after_seconds=0.5)
    body = api.wait(api.task_id(f"{inputs}/photo.jpg"))
    url = body["images"][0]["image_url"]
    assert body["images"][0]["image_url_ttl"] == 3600
    assert api.get(url).status == 200
    time.sleep(0.55)
    assert api.get(url).status == 403


def test_a_result_that_is_not_an_image(api, provider, inputs):
    provider.faults.update(download_not_image_next=1)
    response = api.get(result_url(api, inputs))
    assert (response.status, response.headers["Content-Type"]) == (200, "image/png")
    assert not response.data.startswith(PNG_SIGNATURE)


def test_an_inflated_result_is_streamed_to_the_announced_size(api, provider, inputs):
    size = 20 * 1024 * 1024
    provider.faults.update(download_inflated_next=1, download_inflated_bytes=size)
    response = api.get(result_url(api, inputs), preload_content=False)
    assert int(response.headers["Content-Length"]) == size
    first = response.read(8)
    total = len(first) + sum(len(chunk) for chunk in response.stream(1024 * 1024))
    assert (first, total) == (PNG_SIGNATURE, size)


# --- control over HTTP and randomness ---------------------------------------------------------------


def test_faults_are_set_read_and_reset_over_http(api, provider, inputs, http, quick_tasks):
    url = provider.base_url + "/_local/faults"
    set_ = http.request("POST", url, json={"submit_429_next": 1, "eta_mode": "noisy"})
    assert (set_.status, set_.json()["submit_429_next"], set_.json()["eta_mode"]) == (200, 1, "noisy")
    assert api.submit(f"{inputs}/photo.jpg").status == 429
    assert http.request("GET", url).json()["submit_429_next"] == 0
    assert http.request("DELETE", url).json()["eta_mode"] == "accurate"


@pytest.mark.parametrize("body", [{"no_such_fault": 1}, {"submit_429_rate": 2}, {"eta_mode": "psychic"}])
def test_invalid_faults_are_refused_over_http(provider, http, body):
    response = http.request("POST", provider.base_url + "/_local/faults", json=body)
    assert (response.status, response.json()["reason"]) == (400, "INVALID_REQUEST_BODY")


def test_a_fault_rate_is_a_seeded_share(make_provider, http, inputs):
    outcomes = []
    for _ in range(2):
        provider = make_provider()
        provider.faults.update(seed=42, submit_5xx_rate=0.5, task_fail_rate=1.0)
        api = Api(http, provider)
        outcomes.append([api.submit(f"{inputs}/photo.jpg").status for _ in range(40)])
    assert outcomes[0] == outcomes[1]
    assert 10 <= outcomes[0].count(503) <= 30
