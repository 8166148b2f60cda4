"""One Lambda execution environment: a child process that imports a function's handler and runs its
invocations one at a time, the way the AWS Python runtime does. Started by ``lambda_runtime.ProcessRuntime``
as ``python -I <this file>`` (isolated: nothing of the parent's ``sys.path``, ``PYTHON*`` variables or
working directory), with the function's code directory as its working directory and exactly the
environment the runtime gives it. It imports nothing but the standard library before the handler, so
the handler's module state is its own.

Protocol: JSON lines. Before anything else the worker moves the parent's pipes off fds 0 and 1 (the
protocol channel); the function's stdin is ``/dev/null`` and its stdout and stderr (fds 1 and 2, unbuffered
as in the Lambda runtime) go to the environment's log file, which the parent reads after each invocation.

- parent -> worker, first line: ``{"init": {"paths": [...], "handler": "app.lambda_handler",
  "log": "<file>"}}``; the worker puts ``paths`` first on ``sys.path`` (the code directory, then each
  layer's), imports the handler (the Init phase) and answers ``{"ready": true}``, or ``{"ready": false,
  "payload": <the runtime's error payload>}`` and exits;
- then per invocation: ``{"invoke": {"request_id", "event", "timeout", "function_arn"}}`` -> ``{"payload":
  <JSON text>, "errored": bool}``. A raised exception becomes the runtime's error payload ``{"errorType",
  "errorMessage", "requestId", "stackTrace"}``; a result that is not JSON, ``Runtime.MarshalError``.

The worker exits when its stdin closes, and on its own if its parent process goes away (a killed parent
leaves no environment behind). ``Timeout`` is enforced by the parent, which kills the process.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import IO, Any

#: how often the worker checks that its parent is still there
PARENT_CHECK_SECONDS = 0.5


class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers and Powertools use.

    Made by the worker for each invocation, or standalone (tests hand one to a handler); the deadline is
    ``timeout_seconds`` after construction."""

    def __init__(
        self,
        *,
        function_name: str = "cutout-function",
        memory_limit_in_mb: int = 256,
        timeout_seconds: float = 30.0,
        aws_request_id: str | None = None,
        function_version: str = "$LATEST",
        invoked_function_arn: str | None = None,
        log_stream_name: str | None = None,
        log_group_name: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = (
            invoked_function_arn or f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = log_group_name or f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name or (
            f"local/[{function_version}]{self.aws_request_id.replace('-', '')}"
        )
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InitError(Exception):
    """The Init phase failed, reported with the runtime's ``errorType`` (``Runtime.*``)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def error_payload(error_type: str, message: str, request_id: str, stack: list[str] | None = None) -> str:
    """The Python runtime's error response."""
    return json.dumps(
        {"errorType": error_type, "errorMessage": message, "requestId": request_id, "stackTrace": stack or []}
    )


def load_handler(handler: str) -> Callable[[Any, Any], Any]:
    """Import ``module.attr`` (``/`` allowed in the module part, as the runtime allows) from ``sys.path``;
    failures raise :class:`InitError` with the runtime's error types."""
    module_path, _, attr = handler.rpartition(".")
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_path}': {exc}"
        ) from exc
    except ImportError as exc:
        raise InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}"
        ) from exc
    function = getattr(module, attr, None)
    if function is None:
        raise InitError("Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_path}'")
    return function  # type: ignore[no-any-return]  # getattr of a module: the handler, callable by contract


def invoke(function: Callable[[Any, Any], Any], request: dict[str, Any]) -> tuple[str, bool]:
    """Run one invocation; ``(payload, errored)``."""
    request_id = request["request_id"]
    context = LambdaContext(
        function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function"),
        memory_limit_in_mb=int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
        timeout_seconds=float(request["timeout"]),
        aws_request_id=request_id,
        function_version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        invoked_function_arn=request.get("function_arn"),
        log_stream_name=os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        log_group_name=os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME"),
    )
    try:
        result = function(request["event"], context)
    except Exception as exc:  # noqa: BLE001 - the runtime turns any exception into the error payload
        stack = traceback.format_tb(exc.__traceback__)
        return error_payload(type(exc).__name__, str(exc), request_id, stack), True
    try:
        return json.dumps(result), False
    except (TypeError, ValueError) as exc:
        return error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id), True


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _send(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # the function closed it: nothing more to flush
            stream.flush()


def main() -> int:
    # The protocol channel: the parent's pipes, moved off fds 0 and 1 before any user code runs.
    requests = open(os.dup(0), encoding="utf-8")  # noqa: SIM115 - open for the whole life of the worker
    replies = open(os.dup(1), "w", encoding="utf-8")  # noqa: SIM115
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="watch-parent", daemon=True).start()

    line = requests.readline()
    if not line:
        return 0
    init = json.loads(line)["init"]
    log = os.open(init["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for fd in (1, 2):
        os.dup2(log, fd)
    os.close(log)
    # Unbuffered, as the Lambda runtime makes them: a line printed before a timeout is not lost.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.path[:0] = init["paths"]

    try:
        function = load_handler(init["handler"])
    except Exception as exc:  # noqa: BLE001 - an Init failure of any kind is reported, as the runtime does
        error_type = exc.error_type if isinstance(exc, InitError) else type(exc).__name__
        traceback.print_exc()
        _flush_output()
        stack = traceback.format_tb(exc.__traceback__)
        _send(replies, {"ready": False, "payload": error_payload(error_type, str(exc), "", stack)})
        return 1
    _flush_output()
    _send(replies, {"ready": True})

    for line in requests:
        request = json.loads(line)["invoke"]
        payload, errored = invoke(function, request)
        _flush_output()
        _send(replies, {"payload": payload, "errored": errored})
    return 0


if __name__ == "__main__":
    sys.exit(main())
