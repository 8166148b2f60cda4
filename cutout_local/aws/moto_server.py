"""moto's HTTP server, handling one request at a time, as AWS's APIs appear to their callers: atomically.

moto 5.2.5's ``ThreadedMotoServer`` handles each request on its own thread and its backends take no locks,
so two requests may interleave inside a backend. With Lambda environments running concurrently that is no
longer hypothetical: two ``UpdateItem`` calls on one DynamoDB item, each with a ``ConditionExpression``,
could both read the item before either writes it, and both succeed (``cutout.pacing`` relies on
``SET next_free = next_free + :spacing`` being atomic, as DynamoDB makes it). :class:`SerialMotoServer` is
the same server with every request but a Lambda ``Invoke`` (below) dispatched under one
:class:`DispatchLock`. AWS calls are fast locally (milliseconds), so the functions' own work still
overlaps; only their AWS calls take turns.

A request that waits for something else must not hold the lock meanwhile, or the whole emulator would wait
with it:

- a Lambda ``Invoke`` (``POST /2015-03-31/functions/<name>/invocations``) waits for the function, whose own
  AWS calls need the server. It is dispatched without the lock: it only reads the function's
  configuration before the function runs and touches no backend after it. (Taken around that reading and
  again after the function, the lock queued each invocation twice behind every waiting request: in a
  burst on 2 cores, 35 % of the acquisitions, each waiting about 0.2 s.) ``lambda_runtime`` still runs
  an invocation inside :meth:`DispatchLock.released`, for an invocation made while the lock is held;
- an SQS ``ReceiveMessage`` long poll waits for a message that another request sends (``patches.py``
  wraps ``Queue.wait_for_messages`` in :meth:`DispatchLock.released`).

The SQS poller takes the lock around its own calls into moto's backends (``sqs_poller.py``).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

_INVOKE = re.compile(r"/2015-03-31/functions/[^/]+/invocations")


def _is_invoke(environ: dict[str, Any]) -> bool:
    return environ.get("REQUEST_METHOD") == "POST" and bool(_INVOKE.fullmatch(environ.get("PATH_INFO", "")))


class DispatchLock:
    """One moto request at a time, in the order they asked (a plain lock lets a busy caller take it again
    and again while a request waits seconds). Re-entrant; the thread that holds it can let go of it for a
    while."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Lock] = deque()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> DispatchLock:
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
        else:
            self._acquire()
            self._owner, self._depth = me, 1
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let go of the lock while the block runs, if this thread holds it (else nothing changes)."""
        me = threading.get_ident()
        if self._owner != me:  # only this thread ever sets it to its own id
            yield
            return
        depth = self._depth
        self._owner, self._depth = None, 0
        self._release()
        try:
            yield
        finally:
            self._acquire()
            self._owner, self._depth = me, depth

    def _acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        turn.acquire()  # released by the holder's _release: the lock is handed over, still held

    def _release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._held = False


class SerialMotoServer:
    """``moto.server.ThreadedMotoServer`` (same ``start``/``get_host_and_port``/``stop``), its requests
    dispatched one at a time under ``lock``, but for Lambda ``Invoke``."""

    def __init__(self, lock: DispatchLock, ip_address: str = "127.0.0.1", port: int = 0) -> None:
        self.lock = lock
        self._address = (ip_address, port)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        lock = self.lock

        def serial(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with contextlib.nullcontext() if _is_invoke(environ) else lock:
                response = app(environ, start_response)
                try:
                    return list(response)  # the body too, while the backend is ours
                finally:
                    close = getattr(response, "close", None)
                    if close is not None:
                        close()

        self._server = make_server(*self._address, serial, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
