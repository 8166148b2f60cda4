"""Novita AI client for the asynchronous Image Remove Background API, on one urllib3 PoolManager.

Every failure becomes a named error (see ``cutout.errors``); the API key is asked for lazily through a
callable (so a cached Secrets Manager read happens only when a request is made) and never appears in an
error message or a log line."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3

from cutout.errors import (
    ProviderAuthError,
    ProviderBillingError,
    ProviderProtocolError,
    ProviderRejectedError,
    ProviderSubmitUncertainError,
    ProviderTaskNotFoundError,
    ProviderThrottledError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from cutout.settings import Settings
from cutout.urls import redact

SUBMIT_PATH = "/v3/async/image-remove-background"
RESULT_PATH = "/v3/async/task-result"
DEFAULT_TIMEOUT = urllib3.Timeout(connect=3.05, read=10.0)
BILLING_REASON_PREFIX = "BILLING_"  # BILLING_BALANCE_NOT_ENOUGH, BILLING_FAILED, BILLING_AUTH_FAILED
TERMINAL_STATUSES = frozenset({"SUCCEED", "FAILED"})
_KNOWN_STATUSES = frozenset({"QUEUED", "PROCESSING", "SUCCEED", "FAILED"})


def client_from(settings: Settings, api_key: Callable[[], str], http: urllib3.PoolManager) -> NovitaClient:
    """The client as every function makes it from its settings."""
    timeout = urllib3.Timeout(connect=DEFAULT_TIMEOUT.connect_timeout, read=settings.provider_timeout_seconds)
    return NovitaClient(settings.provider_base_url, api_key, http, timeout)


def new_pool_manager() -> urllib3.PoolManager:
    """The process's one PoolManager: certificate verification on, no automatic retries (the pipeline
    retries on purpose, where it knows what a retry costs)."""
    return urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, timeout=DEFAULT_TIMEOUT)


@dataclass(frozen=True)
class ResultImage:
    url: str
    ttl_seconds: int | None
    image_type: str | None


@dataclass(frozen=True)
class TaskResult:
    """A task-result body, normalised: ``status`` loses its ``TASK_STATUS_`` prefix, and any value we do
    not know becomes ``UNKNOWN`` (not finished; the deadline bounds it)."""

    task_id: str
    status: str
    reason: str
    eta: float | None
    progress_percent: int | None
    images: tuple[ResultImage, ...]
    # A finished task's seconds from the provider's receipt of it to its end (``extra.debug_info``).
    duration: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


class NovitaClient:
    def __init__(
        self,
        base_url: str,
        api_key: Callable[[], str],
        http: urllib3.PoolManager,
        timeout: urllib3.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http = http
        self._timeout = timeout

    def submit(self, image_url: str) -> str:
        """Start a background-removal task for the image at ``image_url``; returns its task id."""
        body = self._call("POST", SUBMIT_PATH, body={"image": image_url})
        task_id = body.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise ProviderProtocolError("submit answered without a task_id")
        return task_id

    def task_result(self, task_id: str) -> TaskResult:
        body = self._call("GET", RESULT_PATH, fields={"task_id": task_id})
        return parse_task_result(body, task_id)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        fields: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._api_key()}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                method,
                self._base_url + path,
                fields=fields,
                body=None if body is None else json.dumps(body).encode(),
                headers=headers,
                timeout=self._timeout,
                retries=False,
            )
        except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError subclass, not a timeout
            raise ProviderUnavailableError(f"{method} {path} failed: {type(exc).__name__}") from None
        except urllib3.exceptions.ReadTimeoutError:
            # Sent but unanswered: a submission may have created a task, and sending it again a second one.
            if method == "POST":
                raise ProviderSubmitUncertainError(
                    f"no answer to the submission within {self._timeout.read_timeout} s: the provider may "
                    "have created a task anyway, so it is not resubmitted (upload the image again to retry)"
                ) from None
            raise ProviderTimeoutError(f"{method} {path} timed out waiting for the answer") from None
        except urllib3.exceptions.TimeoutError as exc:
            raise ProviderTimeoutError(f"{method} {path} timed out: {type(exc).__name__}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise ProviderUnavailableError(f"{method} {path} failed: {type(exc).__name__}") from None
        if response.status >= 400:
            raise http_error(response.status, response.data, response.headers.get("Retry-After"), path)
        try:
            parsed = json.loads(response.data)
        except ValueError:
            raise ProviderProtocolError(
                f"{method} {path} answered {response.status} with a non-JSON body"
            ) from None
        if not isinstance(parsed, dict):
            raise ProviderProtocolError(
                f"{method} {path} answered a JSON {type(parsed).__name__}, not an object"
            )
        return parsed


def http_error(status: int, data: bytes, retry_after: str | None, path: str) -> Exception:
    """The named error for an HTTP error answer, with the provider's reason from either body shape. A
    billing refusal (reason ``BILLING_…``) is a ProviderBillingError whatever its status: the account,
    not the request, is at fault, and topping up fixes it."""
    detail = f"{path} answered HTTP {status}: {error_detail(data)}"
    if status == 429:
        return ProviderThrottledError(detail, parse_retry_after(retry_after))
    if status >= 500:
        return ProviderUnavailableError(detail)
    if error_reason(data).startswith(BILLING_REASON_PREFIX):
        return ProviderBillingError(detail)
    if status in (401, 403):
        return ProviderAuthError(detail)
    if status == 404 and path == RESULT_PATH:
        return ProviderTaskNotFoundError(detail)
    return ProviderRejectedError(detail)


def error_reason(data: bytes) -> str:
    """The machine-readable ``reason`` of an error body (``BILLING_FAILED``…), upper case; "" if none."""
    body = _error_body(data)
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason.strip().upper() if isinstance(reason, str) else ""


def _error_body(data: bytes) -> Any:
    try:
        body = json.loads(data)
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    return body


def error_detail(data: bytes) -> str:
    """Reason and message from ``{"code","reason","message"}`` or ``{"error": {"code","message"}}``."""
    body = _error_body(data)
    if body is None:
        return redact(data[:200].decode("utf-8", "replace")) or "(empty body)"
    if not isinstance(body, dict):
        return "(unreadable error body)"
    parts = [str(body[k]) for k in ("reason", "code", "message") if body.get(k) not in (None, "")]
    return redact(" ".join(parts)[:300]) or "(no reason given)"


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_task_result(body: dict[str, Any], task_id: str) -> TaskResult:
    task = body.get("task")
    if not isinstance(task, dict):
        raise ProviderProtocolError("task-result body has no 'task' object")
    raw_status = task.get("status")
    if not isinstance(raw_status, str):
        raise ProviderProtocolError("task-result body has no status")
    status = raw_status.removeprefix("TASK_STATUS_")
    images = body.get("images") or []
    if not isinstance(images, list):
        raise ProviderProtocolError("task-result 'images' is not a list")
    return TaskResult(
        task_id=str(task.get("task_id") or task_id),
        status=status if status in _KNOWN_STATUSES else "UNKNOWN",
        reason=redact(str(task.get("reason") or "")),
        eta=_number(task.get("eta")) or None,  # 0 means "no estimate", like an absent eta
        progress_percent=_int_or_none(task.get("progress_percent")),
        images=tuple(_image(item) for item in images),
        duration=_duration(body) if status in TERMINAL_STATUSES else None,
    )


def _duration(body: dict[str, Any]) -> float | None:
    """``extra.debug_info``'s complete_time_ms - submit_time_ms (epoch ms, as strings), in seconds; None
    when absent, unreadable or out of (0, 1 day): only learning uses it (``cutout.durations``), so it is
    never a reason to refuse an answer."""
    extra = body.get("extra")
    info = extra.get("debug_info") if isinstance(extra, dict) else None
    if not isinstance(info, dict):
        return None
    try:
        seconds = (float(info["complete_time_ms"]) - float(info["submit_time_ms"])) / 1000
    except (KeyError, TypeError, ValueError):
        return None
    return seconds if 0 < seconds < 86400 else None


def _image(item: Any) -> ResultImage:
    if not isinstance(item, dict) or not isinstance(item.get("image_url"), str):
        raise ProviderProtocolError("task-result image has no image_url")
    ttl = _number(item.get("image_url_ttl"))  # a number in some answers, a string ("3600") in others
    return ResultImage(
        url=item["image_url"],
        ttl_seconds=None if ttl is None else int(ttl),
        image_type=item.get("image_type"),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ProviderProtocolError(f"expected a number, got {value!r}") from None


def _int_or_none(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)
