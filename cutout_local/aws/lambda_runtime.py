"""Run deployed Lambda functions in this process, the way the AWS Python runtime would (moto needs Docker).

For each invocation of a function, :meth:`InProcessRuntime.invoke`:

- unzips the deployed code (``/var/task``) and each layer version (``/opt``) once, into a temporary directory;
- puts the code directory, then each layer's ``python/`` and ``python/lib/pythonX.Y/site-packages``, first on
  ``sys.path`` for the duration of the call;
- sets the function's environment variables plus what the runtime sets (``AWS_REGION``,
  ``AWS_LAMBDA_FUNCTION_NAME``, ``LAMBDA_TASK_ROOT`` ...) and ``AWS_SAM_LOCAL=true`` as ``sam local`` does,
  and restores ``os.environ`` afterwards. ``os.environ`` is process-wide, so
  invocations run one at a time under a process-wide lock;
- on the first call (cold start) imports the handler module from the code directory *inside* that
  environment, under a module name unique to the function: every function may have its own ``app.py``.
  Packages on the layer (``cutout``) are ordinary imports, shared by all functions of the process;
- calls the handler with the event and a :class:`LambdaContext`, and returns moto's
  ``(payload, errored, logs)``. A raised exception becomes the runtime's error payload
  ``{"errorType", "errorMessage", "requestId", "stackTrace"}`` with ``errored`` set, so a state machine's
  ``Retry``/``Catch`` match it by the exception's class name, as on AWS.

Known differences: ``Timeout`` is not enforced (a warning is logged when it is exceeded); sibling modules
of two functions with the same name (two ``helpers.py``) share one ``sys.modules`` entry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

LOG = logging.getLogger(__name__)

#: ``os.environ`` and ``sys.path`` are process-wide: one invocation at a time in the whole process.
ENV_LOCK = threading.RLock()


class Invocation(NamedTuple):
    """One in-process invocation. ``function`` is the stack's logical id if known, else the function name."""

    function: str
    function_name: str
    event: Any
    result: Any
    error: BaseException | None


class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers and Powertools use.

    Constructed standalone (tests hand it to a handler), or by :meth:`for_function` for a deployed function;
    the deadline is ``timeout_seconds`` after construction."""

    def __init__(
        self,
        *,
        function_name: str = "cutout-function",
        memory_limit_in_mb: int = 256,
        timeout_seconds: float = 30.0,
        aws_request_id: str | None = None,
        function_version: str = "$LATEST",
        invoked_function_arn: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = (
            invoked_function_arn or f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/[{function_version}]{self.aws_request_id.replace('-', '')}"
        self._deadline = time.monotonic() + timeout_seconds

    @classmethod
    def for_function(cls, fn: Any, request_id: str) -> LambdaContext:
        """The context of one invocation of ``fn`` (moto's ``LambdaFunction``)."""
        return cls(
            function_name=fn.function_name,
            memory_limit_in_mb=int(fn.memory_size),
            timeout_seconds=float(fn.timeout),
            aws_request_id=request_id,
            function_version=fn.version,
            invoked_function_arn=fn.function_arn,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _Loaded(NamedTuple):
    handler: Callable[[Any, Any], Any]
    paths: list[str]


class InProcessRuntime:
    """Replacement for moto's ``LambdaFunction._invoke_lambda`` (see ``patches.py``).

    ``logical_ids`` maps function names to the stack's logical ids, for :attr:`invocations`."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self.logical_ids: dict[str, str] = {}
        self._root = Path(tempfile.mkdtemp(prefix="cutout-lambda-"))
        self._loaded: dict[tuple[str, str], _Loaded] = {}

    def close(self) -> None:
        """Forget the loaded handlers and remove the unzipped code."""
        self._loaded.clear()
        shutil.rmtree(self._root, ignore_errors=True)

    def invoke(self, fn: Any, event: Any = None) -> tuple[str, bool, str]:
        """Run ``fn`` (moto's ``LambdaFunction``) on ``event``; return ``(payload, errored, logs)``."""
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        request_id = str(uuid.uuid4())
        name = fn.function_name
        result: Any = None
        error: Exception | None = None
        with ENV_LOCK, _environment(self._runtime_environment(fn)):
            started = time.monotonic()
            try:
                loaded = self._load(fn)
                with _on_sys_path(loaded.paths):
                    result = loaded.handler(event, LambdaContext.for_function(fn, request_id))
                payload = json.dumps(result)
            except Exception as exc:  # noqa: BLE001 - the runtime turns any exception into the error payload
                error = exc
                LOG.warning("%s raised %s: %s", name, type(exc).__name__, exc)
                payload = _error_payload(exc, request_id, marshalling=result is not None)
            elapsed = time.monotonic() - started
            if elapsed > float(fn.timeout):
                LOG.warning(
                    "%s ran %.1f s, longer than its Timeout (%s s): AWS would have stopped it",
                    name,
                    elapsed,
                    fn.timeout,
                )
            self.invocations.append(Invocation(self.logical_ids.get(name, name), name, event, result, error))
        return payload, error is not None, ""

    def _runtime_environment(self, fn: Any) -> dict[str, str]:
        """The function's variables (as strings) plus what the Lambda runtime sets."""
        return {
            **{k: str(v) for k, v in fn.environment_vars.items()},
            "LAMBDA_TASK_ROOT": str(self._extract(fn.code_bytes)),
            "AWS_SAM_LOCAL": "true",  # as under `sam local`: Powertools then keeps X-Ray tracing off
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
        }

    def _load(self, fn: Any) -> _Loaded:
        key = (fn.function_name, fn.code_sha_256)
        if key not in self._loaded:
            code_dir = self._extract(fn.code_bytes)
            paths = [str(code_dir), *self._layer_paths(fn)]
            module_path, attr = fn.handler.rsplit(".", 1)
            file = code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
            unique = re.sub(r"\W", "_", f"lambda_{fn.function_name}_{module_path}")
            if not file.is_file():
                raise RuntimeInitError(
                    "Runtime.ImportModuleError",
                    f"Unable to import module '{module_path}': No module named '{module_path}'",
                )
            spec = importlib.util.spec_from_file_location(unique, file)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            try:
                with _on_sys_path(paths):
                    spec.loader.exec_module(module)
                handler = getattr(module, attr, None)
                if handler is None:
                    raise RuntimeInitError(
                        "Runtime.HandlerNotFound", f"Handler '{attr}' missing on '{module_path}'"
                    )
            except (ImportError, SyntaxError) as exc:
                del sys.modules[unique]
                kind = "ImportModuleError" if isinstance(exc, ImportError) else "UserCodeSyntaxError"
                raise RuntimeInitError(
                    f"Runtime.{kind}", f"Unable to import module '{module_path}': {exc}"
                ) from exc
            except BaseException:
                del sys.modules[unique]
                raise
            self._loaded[key] = _Loaded(handler, paths)
        return self._loaded[key]

    def _extract(self, zip_bytes: bytes) -> Path:
        target = self._root / hashlib.sha256(zip_bytes).hexdigest()[:20]
        if not target.is_dir():
            with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
                zf.extractall(target)
        return target

    def _layer_paths(self, fn: Any) -> list[str]:
        """What the Python runtime puts on ``sys.path`` from ``/opt`` for each layer, in order."""
        from moto.awslambda.utils import get_backend

        backend = get_backend(fn.account_id, fn.region)
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        paths = []
        for layer in fn.layers:
            opt = self._extract(backend.layers_versions_by_arn(layer["Arn"]).code_bytes)
            paths += [str(opt / "python"), str(opt / "python" / "lib" / version / "site-packages")]
        return [p for p in paths if os.path.isdir(p)]


class RuntimeInitError(Exception):
    """A failure of the runtime itself, reported with the runtime's ``errorType`` (``Runtime.*``)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _error_payload(exc: Exception, request_id: str, *, marshalling: bool) -> str:
    """The Python runtime's error response. ``marshalling``: the handler returned, but not JSON."""
    if marshalling:
        error_type, message = "Runtime.MarshalError", f"Unable to marshal response: {exc}"
    else:
        error_type = exc.error_type if isinstance(exc, RuntimeInitError) else type(exc).__name__
        message = str(exc)
    return json.dumps(
        {
            "errorType": error_type,
            "errorMessage": message,
            "requestId": request_id,
            "stackTrace": traceback.format_tb(exc.__traceback__),
        }
    )


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _on_sys_path(paths: list[str]) -> Iterator[None]:
    sys.path[:0] = paths
    try:
        yield
    finally:
        for p in paths:
            sys.path.remove(p)
