"""The local provider: the HTTP server, its worker pool and result store, started and stopped as one."""

import logging
import socket
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import urllib3
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from .app import AbortConnection, ProviderApp
from .config import ProviderConfig
from .engine import Engine
from .faults import Faults
from .result_store import ResultStore
from .stats import Stats
from .tasks import TaskBoard

logger = logging.getLogger("cutout_local.provider")
_ABORTIVE_LINGER = struct.pack("ii", 1, 0)


def _loggable(path: str) -> str:
    """The request path without its query, and with a result token cut short (it grants access)."""
    path = urlsplit(path).path
    if path.startswith("/results/"):
        return f"/results/{path[9:15]}….png"
    return path


class _Handler(WSGIRequestHandler):
    """Logs one line per request (method, path, status) and never a header, a query or a whole token."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.info("%s %s %s", self.command, _loggable(self.path), code)

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.log(logging.ERROR if type == "error" else logging.INFO, message.rstrip(), *args)

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        if isinstance(error, AbortConnection):
            # SO_LINGER 0: closing the socket sends a TCP reset instead of a graceful FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORTIVE_LINGER)
            self.close_connection = True
            logger.info("%s %s RESET (injected)", self.command, _loggable(self.path))


class _Server(ThreadedWSGIServer):
    def shutdown_request(self, request: Any) -> None:
        """Skip the FIN of a graceful shutdown for connections set to reset."""
        if request.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8) == _ABORTIVE_LINGER:
            self.close_request(request)
        else:
            super().shutdown_request(request)


class LocalProvider:
    """A Novita-compatible background-removal provider on this machine.

        p = LocalProvider(ProviderConfig(api_keys=("sk_local_test",), port=0)).start()
        p.base_url                          # "http://127.0.0.1:<port>"
        p.faults.update(submit_429_next=1)  # or POST /_local/faults
        p.stats()                           # or GET /_local/stats
        p.stop()

    `engine` may be shared between providers (it loads the model once); `faults` may be passed in
    pre-set. `start()` serves from a background thread; `stop()` shuts the server and the workers down
    and deletes the results folder if it was a temporary one.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        engine: Engine | None = None,
        faults: Faults | None = None,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self.config = config
        self.engine = engine or Engine(config.model, config.model_home, threads=config.engine_threads)
        self.faults = faults or Faults()
        self._http = http or urllib3.PoolManager(maxsize=max(4, config.workers))
        self._stats = Stats(config.rate_limit_per_minute, config.rate_window_seconds)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._board: TaskBoard | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.base_url = ""

    def start(self) -> Self:
        """Bind, start the workers and serve in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the provider is already running")
        if self.config.preload_engine:
            self.engine.load()
        if self.config.results_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cutout-provider-")
            results_dir = Path(self._tmp.name)
        else:
            results_dir = self.config.results_dir
            results_dir.mkdir(parents=True, exist_ok=True)
        results = ResultStore(results_dir)
        self._board = TaskBoard(
            self.config,
            engine=self.engine,
            http=self._http,
            faults=self.faults,
            results=results,
            stats=self._stats,
        )
        app = ProviderApp(
            self.config,
            engine=self.engine,
            faults=self.faults,
            board=self._board,
            results=results,
            stats=self._stats,
        )
        try:
            self._server = _Server(self.config.host, self.config.port, app, handler=_Handler)
        except SystemExit as e:  # werkzeug prints the bind error and exits; make it an error instead
            self._cleanup()
            raise OSError(f"cannot listen on {self.config.host}:{self.config.port}") from e
        host = self.config.host if self.config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        self.base_url = (self.config.public_url or f"http://{host}:{self._server.port}").rstrip("/")
        app.base_url = self.base_url
        self._board.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() may wait for the loop to notice
            name="provider-http",
            daemon=True,
        )
        self._thread.start()
        logger.info("local provider listening on %s (model %s)", self.base_url, self.engine.model)
        return self

    def stop(self) -> None:
        """Stop serving, stop the workers, remove the temporary results folder. Idempotent."""
        if self._server is not None:
            self._server.shutdown()  # serve_forever closes the listening socket as it returns
        if self._thread is not None:
            self._thread.join()
        if self._board is not None:
            self._board.stop()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
        self._server = self._thread = self._board = self._tmp = None

    def stats(self) -> dict[str, Any]:
        """Counters per API key; see `Stats.snapshot` for the fields (also `GET /_local/stats`)."""
        return self._stats.snapshot()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
