"""The WSGI application: Novita's background-removal routes, result URLs, and local controls."""

import base64
import binascii
import hmac
import json
import logging
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .config import ProviderConfig
from .engine import Engine
from .faults import Faults
from .image_io import OUTPUT_TYPES, InputError, encode, open_image
from .ratelimit import SlidingWindowLimiter
from .result_store import ResultStore
from .stats import Stats, key_id
from .tasks import SUCCEED, TaskBoard, TaskView

logger = logging.getLogger(__name__)

TASK_TYPE = "REMOVE_BACKGROUND"
MAX_JSON_BYTES = 64 * 1024
STATUS_REASONS = {
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
NOT_AN_IMAGE = b"<html><body><h1>Service Unavailable</h1></body></html>\n"


class AbortConnection(ConnectionResetError):
    """Raised by the app to have the server drop the connection with a TCP reset and no response."""


class ApiError(Exception):
    """An error answered in the provider's shape: `{"code", "reason", "message", "metadata"}`."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.headers = headers or {}

    def response(self) -> Response:
        body = {"code": self.status, "reason": self.reason, "message": str(self), "metadata": {}}
        return _json(body, self.status, self.headers)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers, mimetype="application/json")


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
    xml += "</Error>"
    return Response(xml, status, mimetype="application/xml")


class ProviderApp:
    """Routes requests to the task board, the engine and the result store.

    Every API call: `faults.latency_seconds`, then the `reset` fault, then Bearer authentication.
    Task-result polls then go through the injected delay (`poll_latency`), 5xx and malformed-body faults.
    Submissions then go through the injected 429/5xx faults, body validation, and the rate limit.
    `base_url` prefixes result URLs; the server sets it once its port is known.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        engine: Engine,
        faults: Faults,
        board: TaskBoard,
        results: ResultStore,
        stats: Stats,
        base_url: str = "",
    ) -> None:
        self.config = config
        self.engine = engine
        self.faults = faults
        self.board = board
        self.results = results
        self.stats = stats
        self.base_url = base_url
        self.limiter = SlidingWindowLimiter(config.rate_limit_per_minute, config.rate_window_seconds)
        self._keys = {key_id(k): k.encode() for k in config.api_keys}
        self.url_map = Map(
            [
                Rule("/v3/async/image-remove-background", endpoint="submit", methods=["POST"]),
                Rule("/v3/async/task-result", endpoint="task_result", methods=["GET"]),
                Rule("/v3/remove-background", endpoint="remove_sync", methods=["POST"]),
                Rule("/results/<token>.png", endpoint="download", methods=["GET"]),
                Rule("/_local/stats", endpoint="local_stats", methods=["GET"]),
                Rule("/_local/faults", endpoint="local_faults", methods=["GET", "POST", "DELETE"]),
                Rule("/_local/health", endpoint="local_health", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        endpoint = "?"
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            response: Response = getattr(self, endpoint)(request, **args)  # every endpoint returns one
        except ApiError as e:
            response = e.response()
        except NotFound:
            response = ApiError(404, "NOT_FOUND", f"no route for {request.path}").response()
        except MethodNotAllowed:
            response = ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here").response()
        except HTTPException as e:
            response = ApiError(e.code or 400, "INVALID_REQUEST_BODY", e.description or e.name).response()
        except AbortConnection:
            raise
        except Exception:
            logger.exception("%s %s failed", request.method, endpoint)
            response = ApiError(
                500, "INTERNAL_SERVER_ERROR", "unexpected error in the local provider"
            ).response()
        return response(environ, start_response)

    # --- the provider's API -------------------------------------------------------------------------

    def submit(self, request: Request) -> Response:
        """`POST /v3/async/image-remove-background` `{"image": url}` → `{"task_id"}`."""
        key = self._enter_api(request)
        self._submission_faults(key)
        body = self._json_body(request, MAX_JSON_BYTES)
        image = body.get("image")
        if not isinstance(image, str) or not image:
            raise ApiError(400, "INVALID_REQUEST_BODY", "field 'image' (the image URL, a string) is required")
        try:
            parts = urlsplit(image)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:
            valid = False
        if not valid:
            raise ApiError(400, "INVALID_REQUEST_BODY", "field 'image' must be an http(s) URL")
        # Stats keep the URL without credentials or query (a presigned URL's query is a signature).
        self._admit(key, urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", "")))
        return _json({"task_id": self.board.submit(key, image)})

    def task_result(self, request: Request) -> Response:
        """`GET /v3/async/task-result?task_id=…` → the task, its images, and debug times."""
        key = self._enter_api(request)
        self.stats.poll(key)
        if self.faults.take("poll_latency"):
            time.sleep(self.faults.poll_latency_seconds)
        if self.faults.take("poll_5xx"):
            status = self.faults.poll_5xx_status
            raise ApiError(status, STATUS_REASONS[status], "injected fault: the provider is unavailable")
        task_id = request.args.get("task_id")
        if not task_id:
            raise ApiError(400, "INVALID_REQUEST_BODY", "query parameter 'task_id' is required")
        view = self.board.view(task_id, key)
        if view is None:
            raise ApiError(404, "TASK_NOT_FOUND", f"no task {task_id!r} for this API key")
        body = json.dumps(self._task_body(view))
        if self.faults.take("poll_malformed"):
            body = body[: len(body) // 2]
        return Response(body, 200, mimetype="application/json")

    def remove_sync(self, request: Request) -> Response:
        """`POST /v3/remove-background` `{"image_file": base64, "extra": {...}}` → the cutout, base64."""
        key = self._enter_api(request)
        self._submission_faults(key)
        body = self._json_body(request, self.config.max_input_bytes * 4 // 3 + MAX_JSON_BYTES)
        image_file, extra = body.get("image_file"), body.get("extra", {})
        if not isinstance(image_file, str) or not image_file:
            raise ApiError(400, "INVALID_REQUEST_BODY", "field 'image_file' (base64 image) is required")
        if not isinstance(extra, dict):
            raise ApiError(400, "INVALID_REQUEST_BODY", "field 'extra' must be an object")
        image_type = extra.get("response_image_type", "png")
        if image_type not in OUTPUT_TYPES:
            raise ApiError(
                400, "INVALID_REQUEST_BODY", f"extra.response_image_type must be one of {OUTPUT_TYPES}"
            )
        try:
            data = base64.b64decode(image_file, validate=True)
        except binascii.Error as e:
            raise ApiError(400, "INVALID_REQUEST_BODY", "field 'image_file' is not valid base64") from e
        if len(data) > self.config.max_input_bytes:
            raise ApiError(
                400, "INVALID_REQUEST_BODY", f"the image is more than {self.config.max_input_bytes} bytes"
            )
        try:
            image = open_image(data, max_pixels=self.config.max_pixels, formats=self.config.input_formats)
        except InputError as e:
            raise ApiError(400, "INVALID_REQUEST_BODY", str(e)) from e
        self._admit(key, None)
        cutout = encode(self.engine.cutout(image), image_type)
        return _json({"image_file": base64.b64encode(cutout).decode(), "image_type": image_type})

    def download(self, request: Request, token: str) -> Response:
        """`GET /results/<token>.png`: the cutout, until its URL expires (S3-like errors)."""
        result = self.results.get(token)
        if self.faults.take("download_5xx"):
            return _s3_error(503, "SlowDown", "Please reduce your request rate.")
        if result is None or result.fault == "broken":
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if time.monotonic() >= result.expires_at:
            return _s3_error(403, "AccessDenied", "Request has expired")
        if result.fault == "not_image":
            body, length = iter([NOT_AN_IMAGE]), len(NOT_AN_IMAGE)
        else:
            try:
                body, length = result.body(), result.length
            except FileNotFoundError:  # purged between the expiry check and the open
                return _s3_error(403, "AccessDenied", "Request has expired")
        if request.method == "GET":
            self.stats.download(result.owner)
        headers = {"Content-Length": str(length)}
        return Response(body, 200, headers, mimetype="image/png", direct_passthrough=True)

    # --- local controls (no auth: the server is for one machine) ------------------------------------

    def local_stats(self, request: Request) -> Response:
        return _json(self.stats.snapshot())

    def local_faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.faults.update(**self._json_body(request, MAX_JSON_BYTES))
            except ValueError as e:
                raise ApiError(400, "INVALID_REQUEST_BODY", str(e)) from e
        elif request.method == "DELETE":
            self.faults.reset()
        return _json(self.faults.snapshot())

    def local_health(self, request: Request) -> Response:
        return _json({"ok": True, "model": self.engine.model, "engine_loaded": self.engine.loaded})

    # --- helpers ------------------------------------------------------------------------------------

    def _enter_api(self, request: Request) -> str:
        """Apply latency and reset faults, then authenticate; return the caller's key id."""
        if self.faults.latency_seconds:
            time.sleep(self.faults.latency_seconds)
        if self.faults.take("reset"):
            raise AbortConnection("injected fault: connection reset")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        presented = token.strip().encode()
        if scheme.lower() == "bearer" and presented:
            for name, key in self._keys.items():
                if hmac.compare_digest(presented, key):
                    return name
        self.stats.unauthorized()
        raise ApiError(401, "INVALID_API_KEY", "missing or invalid API key (Authorization: Bearer <key>)")

    def _submission_faults(self, key: str) -> None:
        self.stats.submit_request(key)
        if self.faults.take("submit_429"):
            self.stats.throttled(key, by_limiter=False)
            seconds = self.faults.submit_429_retry_after
            headers = {} if seconds is None else {"Retry-After": str(seconds)}
            raise ApiError(429, "RATE_LIMIT_EXCEEDED", "injected fault: too many requests", headers)
        if self.faults.take("submit_5xx"):
            status = self.faults.submit_5xx_status
            raise ApiError(status, STATUS_REASONS[status], "injected fault: the provider is unavailable")
        if self.faults.take("billing"):
            reason = self.faults.billing_reason
            raise ApiError(self.faults.billing_status, reason, "injected fault: the account cannot pay")

    def _admit(self, key: str, image: str | None) -> None:
        """Count one submission against the key's rate limit, or answer 429."""
        now = time.monotonic()
        wait = self.limiter.try_acquire(key, now)
        if wait:
            self.stats.throttled(key, by_limiter=True)
            headers = {"Retry-After": str(wait)} if self.config.retry_after else {}
            limit, window = self.config.rate_limit_per_minute, self.config.rate_window_seconds
            message = f"at most {limit} images per {window:g} s per API key; retry in {wait} s"
            raise ApiError(429, "RATE_LIMIT_EXCEEDED", message, headers)
        self.stats.accepted(key, now, image)

    def _json_body(self, request: Request, limit: int) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > limit:
            raise ApiError(400, "INVALID_REQUEST_BODY", f"the request body is more than {limit} bytes")
        request.max_content_length = limit
        try:
            body = json.loads(request.get_data())
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, "INVALID_REQUEST_BODY", "the request body is not valid JSON") from e
        if not isinstance(body, dict):
            raise ApiError(400, "INVALID_REQUEST_BODY", "the request body must be a JSON object")
        return body

    def _task_body(self, view: TaskView) -> dict[str, Any]:
        status = "TASK_STATUS_UNKNOWN" if self.faults.take("poll_unknown_status") else view.status
        task: dict[str, Any] = {"task_id": view.task_id, "task_type": TASK_TYPE, "status": status}
        task["reason"] = view.reason
        mode = self.faults.eta_mode
        if mode == "accurate":
            task["eta"] = view.eta
        elif mode == "noisy":
            task["eta"] = round(view.eta * self.faults.uniform(0.2, 3.0))
        elif mode == "zero":
            task["eta"] = 0
        task["progress_percent"] = view.progress_percent
        images = []
        if status == SUCCEED and view.result is not None:
            ttl = self.config.image_url_ttl
            images.append(
                {
                    "image_url": f"{self.base_url}/results/{view.result.token}.png",
                    "image_url_ttl": str(ttl) if self.config.image_url_ttl_as_string else ttl,
                    "image_type": "png",
                }
            )
        return {
            "task": task,
            "images": images,
            "videos": [],
            "audios": [],
            "extra": {
                "debug_info": {
                    "submit_time_ms": str(view.submit_ms),
                    "execute_time_ms": str(view.execute_ms),
                    "complete_time_ms": str(view.complete_ms),
                }
            },
        }
