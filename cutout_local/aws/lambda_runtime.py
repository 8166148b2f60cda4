"""Run deployed Lambda functions locally the way the Lambda service does (moto's own way needs Docker):
each execution environment is a child process of its own, and invocations run concurrently.

:meth:`ProcessRuntime.invoke` replaces moto's ``LambdaFunction._invoke_lambda`` (see ``patches.py``). It
keeps, for each function, a pool of execution environments, each one a process running ``lambda_worker.py``
on ``sys.executable``:

- An environment is started on demand (a cold start) with exactly: the function's environment variables;
  what the Lambda runtime sets (``AWS_REGION``, ``AWS_LAMBDA_FUNCTION_NAME``, ``LAMBDA_TASK_ROOT``,
  ``_HANDLER``, ``AWS_LAMBDA_LOG_STREAM_NAME``, ``TZ`` ...) plus ``AWS_SAM_LOCAL=true`` as ``sam local`` sets
  it; and the emulator's endpoint and fake credentials (:attr:`ProcessRuntime.emulator_environment`). Its
  working directory is the unzipped code (``/var/task``); its ``sys.path`` is the code directory, then each
  layer's ``python/`` and ``python/lib/pythonX.Y/site-packages`` (``/opt``, unzipped once), then this venv's
  packages (what the Python runtime provides, and the layer's requirements, which are not packaged). Its
  modules are its own: it imports the handler module by its name (``app``) in its Init phase.
- An environment runs one invocation at a time, as on AWS. An idle one is reused (a warm start; the most
  recently used first); when all are busy another one is started, up to the function's
  ``ReservedConcurrentExecutions`` if set, else ``max_environments_per_function``. Past that cap an
  invocation **waits** for a free environment where AWS would throttle it (``TooManyRequestsException``):
  every caller here would only retry it (the SQS poller, the state machine's Retry, a test), and waiting
  keeps runs deterministic. The SQS poller bounds its own concurrency (``sqs_poller.py``). A reserved
  concurrency of 0 throttles every invocation, as on AWS (a ``TooManyRequestsException`` error payload).
- The result comes back as moto's ``(payload, errored, logs)``; a raised exception as the runtime's error
  payload ``{"errorType", "errorMessage", "requestId", "stackTrace"}`` with ``errored`` set, so a state
  machine's ``Retry``/``Catch`` match it by the exception's class name, as on AWS; an Init failure as
  ``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound`` or ``Runtime.UserCodeSyntaxError`` (the
  environment is then discarded and the next invocation starts a new one); a result that is not JSON as
  ``Runtime.MarshalError``.
- ``Timeout`` is enforced: an invocation still running after it is stopped by killing its environment, and
  fails with ``Sandbox.Timedout`` ("Task timed out after N.NN seconds"). A cold start's Init phase gets
  10 s more, as AWS allows before it retries a slow Init within the first invocation. An environment
  whose process ends during an invocation fails it with ``Runtime.ExitError``.
- What the function prints or logs (stdout and stderr: CloudWatch gets both) is captured per invocation,
  the Init phase's output with the first one. It is written to this process's ``sys.stdout``
  (:attr:`ProcessRuntime.echo_logs`), kept in :attr:`Invocation.logs`, and sent to the emulated
  CloudWatch Logs as Lambda sends it: to the function's log group (``LoggingConfig.LogGroup``, else
  ``/aws/lambda/<name>``, created when missing), in a log stream per execution environment (the name
  ``AWS_LAMBDA_LOG_STREAM_NAME`` gives it), one event per non-empty line. The lines are read when the
  invocation ends, so each is stamped with that time; Lambda's own ``START``/``END``/``REPORT`` lines are
  not written.
- Every invocation is recorded in :attr:`ProcessRuntime.invocations` as it ends; its ``error`` is a
  :class:`RemoteLambdaError` whose class is named after the errorType (``type(error).__name__ ==
  "CrashError"``).
- An environment of a function whose code or configuration has changed is not reused.
- While an invocation runs, the calling thread lets go of the emulator's request lock (``released``): an
  Invoke request holds it, and the function's own AWS calls must be served meanwhile.

:meth:`ProcessRuntime.close` ends every environment (``LocalAws.stop``, and at interpreter exit if nothing
did); a worker also exits on its own when this process goes away. Known differences: ``MemorySize`` is only
reported to the handler, not enforced; the environments run this venv's Python, not the function's
``Runtime``; an environment is never shut down for being idle.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import hashlib
import io
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

from cutout_local.aws.lambda_worker import LambdaContext, error_payload

__all__ = ["Invocation", "LambdaContext", "ProcessRuntime", "RemoteLambdaError"]

LOG = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("lambda_worker.py")
#: environments per function when it has no ReservedConcurrentExecutions (a 2-core machine: more only queue)
DEFAULT_MAX_ENVIRONMENTS = 8
#: the Init phase's own limit on AWS; a cold start gets this plus the function's Timeout
INIT_SECONDS = 10.0
#: how long a terminated environment gets to exit before it is killed
_STOP_SECONDS = 5.0
_PRINT = threading.Lock()


class Invocation(NamedTuple):
    """One invocation. ``function`` is the stack's logical id if known, else the function name. Times are
    ``time.time()``: ``called`` when it was asked for, ``started`` when its environment got it (after any
    ``waited`` seconds for a free environment at the cap and ``init_seconds`` of a cold start), ``ended``."""

    function: str
    function_name: str
    event: Any
    result: Any
    error: BaseException | None
    payload: str = ""
    request_id: str = ""
    environment: str = ""
    """the environment that ran it (its log stream name)"""
    logs: str = ""
    """what the function printed or logged during it (and during the Init phase, on a cold start)"""
    called: float = 0.0
    started: float = 0.0
    ended: float = 0.0
    waited: float = 0.0
    init_seconds: float = 0.0

    @property
    def cold(self) -> bool:
        return self.init_seconds > 0


class RemoteLambdaError(Exception):
    """An error a function returned. Its class is made for each ``errorType`` and named after it."""

    error_type = ""

    def __init__(self, message: str, payload: dict[str, Any]) -> None:
        super().__init__(message)
        self.payload = payload
        self.request_id: str = payload.get("requestId", "")
        self.stack_trace: list[str] = payload.get("stackTrace", [])


_ERROR_CLASSES: dict[str, type[RemoteLambdaError]] = {}


def remote_error(payload: str) -> RemoteLambdaError:
    """The exception of an error payload: an instance of the :class:`RemoteLambdaError` subclass named
    after its ``errorType`` (one class per name)."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {"errorType": "Unhandled", "errorMessage": str(payload)}
    name = str(data.get("errorType") or "Unhandled")
    cls = _ERROR_CLASSES.get(name)
    if cls is None:
        made = cast(type[RemoteLambdaError], type(name, (RemoteLambdaError,), {"error_type": name}))
        cls = _ERROR_CLASSES.setdefault(name, made)
    return cls(str(data.get("errorMessage", "")), data)


class _TimedOut(Exception):
    pass


class _Exited(Exception):
    pass


class _Stopped(Exception):
    pass


class _Retired(Exception):
    pass


class _Environment:
    """One execution environment: a worker process, the thread that reads its replies, its log file."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name, self.process, self.log = name, process, log
        self._offset = 0
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, name=f"lambda-env-{process.pid}", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self._replies.put(json.loads(line))
            except ValueError:
                LOG.warning("environment %s: not a protocol line: %r", self.name, line[:200])
        self._replies.put(None)

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one message and wait up to ``timeout`` seconds for the reply."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except OSError as exc:  # a broken pipe: the process has ended
            raise _Exited from exc
        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            raise _TimedOut from None
        if reply is None:
            raise _Exited
        return reply

    def take_logs(self) -> str:
        """What the process wrote to its log since the last call."""
        try:
            with self.log.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return ""
        self._offset += len(data)
        return data.decode("utf-8", errors="replace")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_status(self) -> str:
        code = self.process.wait()
        return f"signal: {-code}" if code < 0 else f"exit status {code}"

    def terminate(self) -> None:
        if self.alive:
            with contextlib.suppress(OSError):
                self.process.terminate()

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL) and reap it. Idempotent."""
        self.terminate()
        try:
            self.process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


class _Pool:
    """The environments of one function, for one version of its code and configuration."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.idle: list[_Environment] = []
        self.size = 0
        """environments running or starting, idle or busy"""
        self.retired = False
        self.changed = threading.Condition()

    def acquire(self, cap: int) -> _Environment | None:
        """An idle environment, or None when the caller may start one; waits while ``cap`` are busy."""
        with self.changed:
            while True:
                if self.retired:
                    raise _Retired
                if self.idle:
                    return self.idle.pop()
                if self.size < cap:
                    self.size += 1
                    return None
                self.changed.wait()

    def release(self, env: _Environment | None, reusable: bool) -> None:
        """Give back an environment (None: the one the caller could not start)."""
        with self.changed:
            keep = env is not None and reusable and not self.retired and env.alive
            if keep:
                assert env is not None
                self.idle.append(env)
            else:
                self.size -= 1
            self.changed.notify()
        if env is not None and not keep:
            env.stop()

    def retire(self) -> None:
        """No more invocations here; the idle environments end now, the busy ones when released."""
        with self.changed:
            self.retired = True
            idle, self.idle = self.idle, []
            self.size -= len(idle)
            self.changed.notify_all()
        for env in idle:
            env.stop()


@dataclass
class _Outcome:
    payload: str
    errored: bool
    logs: str = ""
    environment: str = ""
    started: float = 0.0
    waited: float = 0.0
    init_seconds: float = 0.0


class ProcessRuntime:
    """Replacement for moto's ``LambdaFunction._invoke_lambda`` (see the module docstring).

    ``logical_ids`` maps function names to the stack's logical ids, for :attr:`invocations`. ``released``
    lets go of the emulator's request lock while an invocation runs; ``lock`` holds it while the output
    goes into moto's CloudWatch Logs backend."""

    echo_logs = True
    """write each invocation's captured output to this process's ``sys.stdout`` (True; a benchmark may not)"""

    def __init__(
        self,
        *,
        max_environments_per_function: int = DEFAULT_MAX_ENVIRONMENTS,
        released: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        lock: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.max_environments_per_function = max_environments_per_function
        self.emulator_environment: dict[str, str] = {}
        """what every environment gets besides the function's and the runtime's variables (the endpoint)"""
        self.invocations: list[Invocation] = []
        self.logical_ids: dict[str, str] = {}
        self._released = released
        self._request_lock = lock
        self._root = Path(tempfile.mkdtemp(prefix="cutout-lambda-"))
        (self._root / "logs").mkdir()
        self._lock = threading.Lock()
        self._extracting = threading.Lock()
        self._pools: dict[str, _Pool] = {}
        self._environments: list[_Environment] = []
        self._closed = False
        atexit.register(self.close)

    def close(self) -> None:
        """End every environment (idle or busy: a running invocation fails) and remove the unzipped code.
        Later invocations fail at once."""
        with self._lock:
            self._closed = True
            pools, self._pools = list(self._pools.values()), {}
            environments, self._environments = self._environments, []
        for pool in pools:
            pool.retire()
        for env in environments:  # signal them all first, then reap them one by one
            env.terminate()
        for env in environments:
            env.stop()
        shutil.rmtree(self._root, ignore_errors=True)
        atexit.unregister(self.close)

    def pids(self) -> list[int]:
        """The process ids of the environments alive now."""
        with self._lock:
            return [env.process.pid for env in self._environments if env.alive]

    def invoke(self, fn: Any, event: Any = None) -> tuple[str, bool, str]:
        """Run ``fn`` (moto's ``LambdaFunction``) on ``event``; return ``(payload, errored, logs)``. The logs
        are kept on the invocation, not returned: moto would put them in every Invoke response."""
        invocation = self.run(fn, event)
        return invocation.payload, invocation.error is not None, ""

    def run(self, fn: Any, event: Any = None) -> Invocation:
        """Run ``fn`` on ``event`` in one of its environments; the :class:`Invocation`, also recorded."""
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        request_id = str(uuid.uuid4())
        name = fn.function_name
        called = time.time()
        with self._released():
            outcome = self._run(fn, request_id, event)
        ended = time.time()
        error = remote_error(outcome.payload) if outcome.errored else None
        result = None if outcome.errored else json.loads(outcome.payload)
        if error is not None:
            LOG.warning("%s raised %s: %s", name, type(error).__name__, error)
        if self.echo_logs and outcome.logs:
            with _PRINT:
                sys.stdout.write(outcome.logs)
                sys.stdout.flush()
        self._send_logs(fn, outcome, ended)
        invocation = Invocation(
            self.logical_ids.get(name, name), name, event, result, error, outcome.payload, request_id,
            outcome.environment, outcome.logs, called, outcome.started or ended, ended, outcome.waited,
            outcome.init_seconds,
        )  # fmt: skip
        with self._lock:
            self.invocations.append(invocation)
        return invocation

    def _send_logs(self, fn: Any, outcome: _Outcome, ended: float) -> None:
        """The invocation's lines into the function's log group, in its environment's stream (moto's
        ``logs_group_name``: the template's ``LoggingConfig.LogGroup`` or ``/aws/lambda/<name>``)."""
        lines = [line for line in outcome.logs.splitlines() if line]
        if not lines or not outcome.environment:
            return
        stamp = int(ended * 1000)
        with self._request_lock():
            logs = fn.logs_backend
            logs.ensure_log_group(fn.logs_group_name)
            logs.ensure_log_stream(fn.logs_group_name, outcome.environment)
            logs.put_log_events(
                fn.logs_group_name, outcome.environment, [{"timestamp": stamp, "message": m} for m in lines]
            )

    # -- one invocation --------------------------------------------------------------------------------

    def _run(self, fn: Any, request_id: str, event: Any) -> _Outcome:
        cap = self._cap(fn)
        if cap < 1:
            return _Outcome(error_payload("TooManyRequestsException", "Rate Exceeded.", request_id), True)
        began = time.monotonic()
        try:
            pool, env = self._acquire(fn, cap)
        except _Stopped:
            stopped = error_payload("Runtime.Stopped", "the local runtime is stopped", request_id)
            return _Outcome(stopped, True)
        waited = time.monotonic() - began
        logs, init_seconds = "", 0.0
        if env is None:
            init_began = time.monotonic()
            try:
                env = self._start(fn)
            except BaseException:
                pool.release(None, reusable=False)
                raise
            failure = self._init(env, fn, request_id)
            init_seconds = time.monotonic() - init_began
            if failure is not None:
                pool.release(env, reusable=False)
                return _Outcome(failure, True, env.take_logs(), env.name, time.time(), waited, init_seconds)
            logs = env.take_logs()
        started = time.time()
        reusable = False
        timeout = float(fn.timeout)
        try:
            reply = env.request(
                {"invoke": {"request_id": request_id, "event": event, "timeout": timeout,
                            "function_arn": fn.function_arn}},
                timeout,
            )  # fmt: skip
            payload, errored, reusable = str(reply["payload"]), bool(reply["errored"]), True
        except _TimedOut:
            env.stop()
            message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            payload, errored = error_payload("Sandbox.Timedout", message, request_id), True
        except _Exited:
            message = f"RequestId: {request_id} Error: Runtime exited with error: {env.exit_status()}"
            payload, errored = error_payload("Runtime.ExitError", message, request_id), True
        finally:
            logs += env.take_logs()
            pool.release(env, reusable)
        return _Outcome(payload, errored, logs, env.name, started, waited, init_seconds)

    def _acquire(self, fn: Any, cap: int) -> tuple[_Pool, _Environment | None]:
        """The function's pool and an idle environment of it, or None when the caller is to start one."""
        while True:
            pool = self._pool(fn)
            try:
                return pool, pool.acquire(cap)
            except _Retired:
                continue  # the function changed while this one waited: its new pool

    def _init(self, env: _Environment, fn: Any, request_id: str) -> str | None:
        """The Init phase of a new environment: None when ready, else the error payload."""
        timeout = INIT_SECONDS + float(fn.timeout)
        try:
            reply = env.request(
                {"init": {"paths": self._paths(fn), "handler": fn.handler, "log": str(env.log)}}, timeout
            )
        except _TimedOut:
            env.stop()
            message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            return error_payload("Sandbox.Timedout", message, request_id)
        except _Exited:
            message = f"RequestId: {request_id} Error: Runtime exited with error: {env.exit_status()}"
            return error_payload("Runtime.ExitError", message, request_id)
        if reply.get("ready"):
            return None
        error = json.loads(reply["payload"])
        error["requestId"] = request_id
        return json.dumps(error)

    # -- environments ----------------------------------------------------------------------------------

    def _cap(self, fn: Any) -> int:
        reserved = getattr(fn, "reserved_concurrency", None)
        if reserved is None or reserved == "":
            return self.max_environments_per_function
        return int(reserved)

    def _pool(self, fn: Any) -> _Pool:
        """The function's pool for its current code and configuration (a changed function gets a new one)."""
        fingerprint = _fingerprint(fn)
        with self._lock:
            if self._closed:
                raise _Stopped
            pool = self._pools.get(fn.function_arn)
            if pool is not None and pool.fingerprint == fingerprint:
                return pool
            self._pools[fn.function_arn] = new = _Pool(fingerprint)
        if pool is not None:
            pool.retire()
        return new

    def _start(self, fn: Any) -> _Environment:
        """A new environment's process (a cold start; its Init phase is :meth:`_init`)."""
        code_dir = self._extract(fn.code_bytes)
        now = datetime.datetime.now(datetime.UTC)
        stream = f"{now:%Y/%m/%d}/[{fn.version}]{uuid.uuid4().hex}"
        environment = {
            **self.emulator_environment,
            **{k: str(v) for k, v in fn.environment_vars.items()},
            **self._runtime_environment(fn, code_dir, stream),
        }
        process = subprocess.Popen(
            [sys.executable, "-I", str(WORKER)],
            cwd=code_dir,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C in the terminal is for this process, which ends them
        )
        env = _Environment(stream, process, self._root / "logs" / f"{uuid.uuid4().hex}.log")
        with self._lock:
            self._environments = [e for e in self._environments if e.alive]
            self._environments.append(env)
            closed = self._closed
        if closed:  # close() ran while it started: it would be left behind
            env.stop()
        return env

    def _runtime_environment(self, fn: Any, code_dir: Path, stream: str) -> dict[str, str]:
        """What the Lambda runtime sets."""
        return {
            "LAMBDA_TASK_ROOT": str(code_dir),
            "_HANDLER": fn.handler,
            "AWS_SAM_LOCAL": "true",  # as under `sam local`: Powertools then keeps X-Ray tracing off
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        }

    def _paths(self, fn: Any) -> list[str]:
        """The code directory, then what the Python runtime puts on ``sys.path`` from ``/opt`` for each
        layer, in order."""
        from moto.awslambda.utils import get_backend

        backend = get_backend(fn.account_id, fn.region)
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        paths = [str(self._extract(fn.code_bytes))]
        for layer in fn.layers:
            layer_version = backend.layers_versions_by_arn(layer["Arn"])
            assert layer_version is not None, f"no layer {layer['Arn']} (moto checks it at create_function)"
            opt = self._extract(layer_version.code_bytes)
            paths += [str(opt / "python"), str(opt / "python" / "lib" / version / "site-packages")]
        return [paths[0], *(p for p in paths[1:] if os.path.isdir(p))]

    def _extract(self, zip_bytes: bytes) -> Path:
        target = self._root / hashlib.sha256(zip_bytes).hexdigest()[:20]
        with self._extracting:
            if not target.is_dir():
                partial = target.with_suffix(".partial")
                with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
                    zf.extractall(partial)
                partial.rename(target)
        return target


def _fingerprint(fn: Any) -> str:
    """What an environment is made from: a change of any of it means new environments."""
    parts = [
        fn.code_sha_256, fn.handler, fn.run_time, str(fn.timeout), str(fn.memory_size),
        json.dumps({k: str(v) for k, v in fn.environment_vars.items()}, sort_keys=True),
        json.dumps([layer["Arn"] for layer in fn.layers]),
    ]  # fmt: skip
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
