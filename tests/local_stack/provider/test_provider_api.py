"""The local provider's HTTP contract, over real HTTP: auth, validation, the async flow, the synchronous
twin, result URL expiry and the rate limit."""

import base64
import io
import time

import pytest
from PIL import Image

from cutout_local.provider import Faults, LocalProvider, key_id, max_in_window
from tests.local_stack.provider.provider_helpers import (
    BASE_CONFIG,
    KEY,
    OTHER_KEY,
    PNG_SIGNATURE,
    Api,
    alpha_of,
    gift_box_scene,
)
from tests.support.images import encode

ERROR_FIELDS = {"code", "reason", "message", "metadata"}


def assert_error(response, status: int, reason: str) -> None:
    assert response.status == status, response.data
    body = response.json()
    assert set(body) == ERROR_FIELDS
    assert (body["code"], body["reason"], body["metadata"]) == (status, reason, {})
    assert body["message"]


# --- authentication ---------------------------------------------------------------------------------


def test_submit_without_a_key_is_401(api, inputs):
    assert_error(api.submit(f"{inputs}/photo.jpg", key=None), 401, "INVALID_API_KEY")


def test_submit_with_a_wrong_key_is_401(api, inputs):
    assert_error(api.submit(f"{inputs}/photo.jpg", key="sk_wrong"), 401, "INVALID_API_KEY")


def test_poll_with_a_wrong_key_is_401(api):
    assert_error(api.result("whatever", key="sk_wrong"), 401, "INVALID_API_KEY")


def test_a_non_bearer_scheme_is_401(api, inputs, http, provider):
    response = http.request(
        "POST",
        provider.base_url + "/v3/async/image-remove-background",
        body=b'{"image": "http://x/y.png"}',
        headers={"Authorization": f"Basic {KEY}"},
    )
    assert_error(response, 401, "INVALID_API_KEY")


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[1, 2]",
        b"{}",
        b'{"image": 42}',
        b'{"image": ""}',
        b'{"image": "ftp://example.com/a.png"}',
        b'{"image": "/relative/a.png"}',
        b'{"image": "http:///no-host.png"}',
        b'{"image": "http://[::1/bad-ipv6.png"}',
        b'{"image": "http://example.com:99999/bad-port.png"}',
    ],
)
def test_a_bad_submit_body_is_400(api, payload):
    assert_error(api.post("/v3/async/image-remove-background", payload), 400, "INVALID_REQUEST_BODY")


def test_a_bad_body_is_not_counted_as_accepted(api, provider):
    api.post("/v3/async/image-remove-background", b"{}")
    assert provider.stats()["keys"][key_id(KEY)]["accepted"] == 0


def test_an_unknown_task_id_is_404(api):
    assert_error(api.result("no-such-task"), 404, "TASK_NOT_FOUND")


def test_a_missing_task_id_is_400(api):
    assert_error(api.result(None), 400, "INVALID_REQUEST_BODY")


def test_another_keys_task_is_404(api, inputs, quick_tasks):
    task_id = api.task_id(f"{inputs}/photo.jpg", key=OTHER_KEY)
    assert_error(api.result(task_id, key=KEY), 404, "TASK_NOT_FOUND")


def test_an_unknown_path_is_404_in_the_error_shape(api, provider):
    assert_error(api.get(provider.base_url + "/v3/nothing-here"), 404, "NOT_FOUND")


# --- the asynchronous flow --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(engine, http, inputs):
    """A task for photo.jpg (kept PROCESSING for at least 0.4 s) polled to the end, on a provider of
    its own: (task id, final body, statuses seen, Api)."""
    provider = LocalProvider(BASE_CONFIG, engine=engine, faults=Faults(task_min_seconds=0.4)).start()
    api = Api(http, provider)
    seen: list[str] = []
    task_id = api.task_id(f"{inputs}/photo.jpg")
    yield task_id, api.wait(task_id, seen=seen), seen, api
    provider.stop()


def test_a_task_goes_through_queued_or_processing_to_succeed(finished):
    _, _, seen, _ = finished
    assert seen[0] in ("TASK_STATUS_QUEUED", "TASK_STATUS_PROCESSING")
    assert "TASK_STATUS_PROCESSING" in seen
    assert seen[-1] == "TASK_STATUS_SUCCEED"
    assert seen.index("TASK_STATUS_PROCESSING") < seen.index("TASK_STATUS_SUCCEED")


def test_a_finished_task_has_the_contract_shape(finished):
    task_id, body, _, _ = finished
    assert set(body) == {"task", "images", "videos", "audios", "extra"}
    assert body["task"] == {
        "task_id": task_id,
        "task_type": "REMOVE_BACKGROUND",
        "status": "TASK_STATUS_SUCCEED",
        "reason": "",
        "eta": 0,
        "progress_percent": 100,
    }
    (image,) = body["images"]
    assert image["image_type"] == "png"
    assert image["image_url_ttl"] == 3600
    debug = body["extra"]["debug_info"]
    submit, execute, complete = (
        int(debug[k]) for k in ("submit_time_ms", "execute_time_ms", "complete_time_ms")
    )
    assert submit <= execute < complete
    assert complete - execute >= 400


def test_the_result_is_an_rgba_png_of_the_same_size_with_a_real_matte(finished):
    _, body, _, api = finished
    response = api.get(body["images"][0]["image_url"])
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/png"
    assert int(response.headers["Content-Length"]) == len(response.data)
    alpha = alpha_of(response.data)
    assert alpha.shape == (240, 320)
    assert alpha.std() > 50
    assert (alpha < 10).mean() > 0.3  # grass around the box is removed
    assert (alpha > 245).mean() > 0.2  # the box is kept


def test_result_urls_are_unguessable(finished):
    _, body, _, _ = finished
    token = body["images"][0]["image_url"].rsplit("/", 1)[1].removesuffix(".png")
    assert len(token) >= 32


def test_png_inputs_are_accepted(api, inputs):
    body = api.wait(api.task_id(f"{inputs}/photo.png"))
    assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body["task"]


def test_webp_inputs_are_refused_as_novita_refuses_them(api, inputs):
    """Novita reads PNG and JPEG only (docs/PROVIDER-CONTRACT.md): Cutout converts WebP before."""
    body = api.wait(api.task_id(f"{inputs}/photo.webp"))
    assert body["task"]["status"] == "TASK_STATUS_FAILED"
    assert body["task"]["reason"] == "UNSUPPORTED_IMAGE_FORMAT: the input is not a jpeg/png image"


def test_a_queued_task_reports_its_wait_from_the_queue(make_provider, http, inputs):
    provider = make_provider(workers=1)
    provider.faults.update(task_min_seconds=2.0)
    api = Api(http, provider)
    first, second = api.task_id(f"{inputs}/photo.jpg"), api.task_id(f"{inputs}/photo.jpg")
    time.sleep(0.3)
    running, waiting = api.result(first).json()["task"], api.result(second).json()["task"]
    assert (running["status"], waiting["status"]) == ("TASK_STATUS_PROCESSING", "TASK_STATUS_QUEUED")
    assert waiting["progress_percent"] == 0
    assert 0 < running["progress_percent"] < 100
    assert 1 <= running["eta"] <= 2
    assert running["eta"] + 1 <= waiting["eta"] <= 5


def test_the_ttl_can_be_sent_as_a_string(make_provider, http, inputs):
    api = Api(http, make_provider(image_url_ttl_as_string=True))
    body = api.wait(api.task_id(f"{inputs}/photo.jpg"))
    assert body["images"][0]["image_url_ttl"] == "3600"


def test_a_result_url_expires_after_its_ttl(make_provider, http, inputs):
    api = Api(http, make_provider(image_url_ttl=1))
    url = api.wait(api.task_id(f"{inputs}/photo.jpg"))["images"][0]["image_url"]
    assert api.get(url).status == 200
    time.sleep(1.05)
    expired = api.get(url)
    assert expired.status == 403
    assert b"Request has expired" in expired.data


def test_an_unknown_result_token_is_404(api, provider):
    response = api.get(provider.base_url + "/results/not-a-token.png")
    assert response.status == 404
    assert b"NoSuchKey" in response.data


def test_stats_count_polls_downloads_and_images_without_query(api, provider, inputs):
    body = api.wait(api.task_id(f"{inputs}/photo.jpg?X-Amz-Signature=secret"))
    api.get(body["images"][0]["image_url"])
    stats = api.get(provider.base_url + "/_local/stats").json()
    assert stats == {**provider.stats(), "now": stats["now"]}
    mine = stats["keys"][key_id(KEY)]
    assert mine["images"] == [f"{inputs}/photo.jpg"]
    assert mine["accepted"] == mine["submit_requests"] == 1
    assert mine["polls"] >= 1
    assert mine["downloads"] == 1
    assert mine["tasks"] == {"TASK_STATUS_SUCCEED": 1}
    assert KEY not in str(stats)


# --- the synchronous twin ---------------------------------------------------------------------------


def test_the_sync_endpoint_round_trips_a_cutout(api):
    response = api.sync(encode(gift_box_scene(), "JPEG"), "png")
    assert response.status == 200
    body = response.json()
    assert body["image_type"] == "png"
    alpha = alpha_of(base64.b64decode(body["image_file"]))
    assert alpha.shape == (240, 320)
    assert alpha.std() > 50


def test_the_sync_endpoint_defaults_to_png_and_can_answer_webp_or_jpeg(api):
    photo = encode(gift_box_scene(), "JPEG")
    assert base64.b64decode(api.sync(photo).json()["image_file"]).startswith(PNG_SIGNATURE)
    webp = Image.open(io.BytesIO(base64.b64decode(api.sync(photo, "webp").json()["image_file"])))
    assert (webp.format, webp.mode) == ("WEBP", "RGBA")
    jpeg = Image.open(io.BytesIO(base64.b64decode(api.sync(photo, "jpeg").json()["image_file"])))
    assert (jpeg.format, jpeg.mode, jpeg.size) == ("JPEG", "RGB", (320, 240))


def test_the_sync_endpoint_applies_exif_orientation(api):
    photo = gift_box_scene()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90° clockwise
    response = api.sync(encode(photo, "JPEG", exif=exif.tobytes()))
    assert alpha_of(base64.b64decode(response.json()["image_file"])).shape == (320, 240)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b'{"image_file": "%%%not base64"}', b"base64"),
        (b'{"image_file": "' + base64.b64encode(b"plain text") + b'"}', b"UNSUPPORTED_IMAGE_FORMAT"),
        (b'{"image_file": "' + base64.b64encode(PNG_SIGNATURE + b"junk") + b'"}', b"IMAGE_DECODE_FAILED"),
        (b'{"image_file": ""}', b"image_file"),
        (b'{"image_file": "AAAA", "extra": {"response_image_type": "gif"}}', b"response_image_type"),
    ],
)
def test_the_sync_endpoint_rejects_bad_input(api, payload, fragment):
    response = api.post("/v3/remove-background", payload)
    assert_error(response, 400, "INVALID_REQUEST_BODY")
    assert fragment in response.data


def test_the_sync_endpoint_needs_a_key(api):
    assert_error(api.sync(encode(gift_box_scene(), "JPEG"), key=None), 401, "INVALID_API_KEY")


# --- rate limit -------------------------------------------------------------------------------------


@pytest.fixture
def limited(make_provider, http):
    """A provider allowing 3 submissions per second, whose tasks fail at once (no engine time)."""
    provider = make_provider(rate_limit_per_minute=3, rate_window_seconds=1.0)
    provider.faults.update(task_fail_rate=1.0)
    return Api(http, provider)


def test_over_the_limit_is_429_with_retry_after(limited, inputs):
    assert [limited.submit(f"{inputs}/photo.jpg").status for _ in range(3)] == [200, 200, 200]
    refused = limited.submit(f"{inputs}/photo.jpg")
    assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert refused.headers["Retry-After"] == "1"


def test_the_limit_frees_up_as_the_window_slides(limited, inputs):
    for _ in range(3):
        limited.submit(f"{inputs}/photo.jpg")
    assert limited.submit(f"{inputs}/photo.jpg").status == 429
    time.sleep(1.05)
    assert limited.submit(f"{inputs}/photo.jpg").status == 200


def test_the_limit_is_per_key(limited, inputs):
    for _ in range(3):
        limited.submit(f"{inputs}/photo.jpg")
    assert limited.submit(f"{inputs}/photo.jpg", key=OTHER_KEY).status == 200


def test_sync_calls_count_against_the_same_limit(make_provider, http, inputs):
    provider = make_provider(rate_limit_per_minute=3)
    provider.faults.update(task_fail_rate=1.0)
    api, photo = Api(http, provider), encode(gift_box_scene(), "JPEG")
    assert [api.submit(f"{inputs}/photo.jpg").status for _ in range(2)] == [200, 200]
    assert api.sync(photo).status == 200
    assert_error(api.sync(photo), 429, "RATE_LIMIT_EXCEEDED")


def test_no_sliding_window_ever_exceeds_the_limit(limited, inputs):
    deadline = time.monotonic() + 2.3
    statuses = []
    while time.monotonic() < deadline:
        statuses.append(limited.submit(f"{inputs}/photo.jpg").status)
        time.sleep(0.05)
    stats = limited.provider.stats()["keys"][key_id(KEY)]
    assert set(statuses) == {200, 429}
    assert stats["accepted"] == statuses.count(200) >= 6
    assert stats["rate_limited"] == stats["responses_429"] == statuses.count(429)
    assert max_in_window(stats["accepted_at"], 1.0) == 3


def test_retry_after_can_be_left_out(make_provider, http, inputs):
    provider = make_provider(rate_limit_per_minute=1, retry_after=False)
    provider.faults.update(task_fail_rate=1.0)
    api = Api(http, provider)
    assert api.submit(f"{inputs}/photo.jpg").status == 200
    refused = api.submit(f"{inputs}/photo.jpg")
    assert refused.status == 429
    assert "Retry-After" not in refused.headers
