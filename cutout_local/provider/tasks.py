"""Asynchronous background-removal tasks: a FIFO queue, worker threads, and what a poll reports."""

import logging
import math
import queue
import secrets
import threading
import time
from dataclasses import dataclass

import urllib3

from .config import ProviderConfig
from .engine import Engine
from .faults import Faults
from .fetch import fetch_image
from .image_io import InputError, encode, open_image
from .result_store import Result, ResultStore
from .stats import Stats

QUEUED = "TASK_STATUS_QUEUED"
PROCESSING = "TASK_STATUS_PROCESSING"
SUCCEED = "TASK_STATUS_SUCCEED"
FAILED = "TASK_STATUS_FAILED"
DOWNLOAD_FAULTS = ("broken", "expired", "not_image", "inflated")

logger = logging.getLogger(__name__)


class _InjectedFailure(Exception):
    """A task failed on purpose (fault `task_fail`); the message is the task's reason."""


def _epoch_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Task:
    task_id: str
    owner: str
    image_url: str
    seq: int
    fault: str | None
    submit_ms: int
    status: str = QUEUED
    reason: str = ""
    started: float = 0.0
    execute_ms: int = 0
    complete_ms: int = 0
    result: Result | None = None


@dataclass(frozen=True)
class TaskView:
    """A task as one poll sees it. `eta` is whole seconds left (0 once finished)."""

    task_id: str
    status: str
    reason: str
    eta: int
    progress_percent: int
    submit_ms: int
    execute_ms: int
    complete_ms: int
    result: Result | None


class TaskBoard:
    """Accepts tasks, runs them in submission order on `config.workers` threads, and reports on them.

    A worker fetches the input, runs the engine, and stores the cutout; any failure (unreachable URL,
    not an image, too large, an engine error) ends the task FAILED with a reason and the worker goes on.
    `eta` comes from the task's place in the queue and the measured time per task (a moving average).
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        engine: Engine,
        http: urllib3.PoolManager,
        faults: Faults,
        results: ResultStore,
        stats: Stats,
    ) -> None:
        self._config = config
        self._engine = engine
        self._http = http
        self._faults = faults
        self._results = results
        self._stats = stats
        self._timeout = urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout)
        self._tasks: dict[str, _Task] = {}
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._submitted = 0
        self._taken = 0
        self._busy = 0
        self._seconds_per_task = config.initial_eta_seconds
        self._measured = False

    def start(self) -> None:
        """Start the worker threads."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._work, name=f"provider-worker-{n}", daemon=True)
            for n in range(self._config.workers)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the workers after their current task; tasks still queued stay QUEUED."""
        self._stop.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def submit(self, owner: str, image_url: str) -> str:
        """Queue a task for `image_url` on behalf of key id `owner`; return its id."""
        fault = (
            "fail" if self._faults.take("task_fail") else "hang" if self._faults.take("task_hang") else None
        )
        with self._lock:
            task = _Task(secrets.token_hex(16), owner, image_url, self._submitted, fault, _epoch_ms())
            self._submitted += 1
            self._tasks[task.task_id] = task
            self._queue.put(task)  # under the lock, so the queue order is the `seq` order
        return task.task_id

    def view(self, task_id: str, owner: str) -> TaskView | None:
        """The task as its owner sees it now, or None if `owner` has no such task."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.owner != owner:
                return None
            seconds_left, progress = self._estimate(task, time.monotonic())
            return TaskView(
                task.task_id,
                task.status,
                task.reason,
                max(1, math.ceil(seconds_left)) if task.status in (QUEUED, PROCESSING) else 0,
                progress,
                task.submit_ms,
                task.execute_ms,
                task.complete_ms,
                task.result,
            )

    def _estimate(self, task: _Task, now: float) -> tuple[float, int]:
        """Seconds left and percent done (call with the lock held)."""
        per_task = max(self._seconds_per_task, self._faults.task_min_seconds)
        if task.status == QUEUED:
            rounds_ahead = (task.seq - self._taken + self._busy) / self._config.workers
            return per_task * (rounds_ahead + 1), 0
        if task.status == PROCESSING:
            elapsed = now - task.started
            return max(per_task - elapsed, 0.0), min(99, int(100 * elapsed / per_task))
        return 0.0, 100 if task.status == SUCCEED else 0

    def _work(self) -> None:
        while (task := self._queue.get()) is not None and not self._stop.is_set():
            self._run(task)

    def _run(self, task: _Task) -> None:
        with self._lock:
            self._taken += 1
            task.status = PROCESSING
            task.started = time.monotonic()
            task.execute_ms = _epoch_ms()
            if task.fault == "hang":
                return
            self._busy += 1
        try:
            if task.fault == "fail":
                raise _InjectedFailure(self._faults.task_fail_reason)
            png = self._cutout(task.image_url)
            self._wait_min_duration(task)
            result = self._publish(task.owner, png)
        except (InputError, _InjectedFailure) as e:
            self._wait_min_duration(task)
            self._finish(task, FAILED, str(e))
        except Exception as e:
            logger.exception("task %s: unexpected error", task.task_id)
            self._finish(task, FAILED, f"INTERNAL_ERROR: {type(e).__name__}")
        else:
            self._finish(task, SUCCEED, result=result)

    def _cutout(self, image_url: str) -> bytes:
        """Fetch, check, cut out and encode; the time taken feeds the eta estimate."""
        began = time.monotonic()
        data = fetch_image(
            self._http, image_url, max_bytes=self._config.max_input_bytes, timeout=self._timeout
        )
        image = open_image(data, max_pixels=self._config.max_pixels, formats=self._config.input_formats)
        png = encode(self._engine.cutout(image))
        self._record_duration(time.monotonic() - began)
        return png

    def _wait_min_duration(self, task: _Task) -> None:
        self._stop.wait(task.started + self._faults.task_min_seconds - time.monotonic())

    def _record_duration(self, seconds: float) -> None:
        with self._lock:
            self._seconds_per_task = (
                0.7 * self._seconds_per_task + 0.3 * seconds if self._measured else seconds
            )
            self._measured = True

    def _publish(self, owner: str, png: bytes) -> Result:
        fault = next((f for f in DOWNLOAD_FAULTS if self._faults.take(f"download_{f}")), None)
        expire_after = self._faults.download_expire_after_seconds
        if fault == "expired":
            lifetime = 0.0
        elif expire_after is not None:
            lifetime = expire_after
        else:
            lifetime = float(self._config.image_url_ttl)
        inflate_to = self._faults.download_inflated_bytes if fault == "inflated" else 0
        return self._results.add(owner, png, lifetime=lifetime, fault=fault, inflate_to=inflate_to)

    def _finish(self, task: _Task, status: str, reason: str = "", result: Result | None = None) -> None:
        with self._lock:
            task.status = status
            task.reason = reason
            task.result = result
            task.complete_ms = _epoch_ms()
            self._busy -= 1
        self._stats.finished(task.owner, status)
