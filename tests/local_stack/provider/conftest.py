"""Fixtures for the local provider's tests: one engine per session, a tiny input-image server, providers."""

import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import urllib3

from cutout_local.provider import Engine, LocalProvider
from tests.local_stack.provider.provider_helpers import (
    BASE_CONFIG,
    PNG_SIGNATURE,
    Api,
    gift_box_scene,
    odd_inputs,
)
from tests.support.images import encode


class _InputHandler(SimpleHTTPRequestHandler):
    """Serves the files of a folder; `/endless` streams a never-ending PNG-looking body (no length),
    `/slow` waits 2 s before answering 404."""

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(2)
        if self.path != "/endless":
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        try:
            self.wfile.write(PNG_SIGNATURE)
            while True:
                self.wfile.write(bytes(64 * 1024))
        except OSError:
            return

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The default engine (U²-Net-p), loaded once for the whole session."""
    e = Engine()
    e.load()
    return e


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a local server with photo.jpg / photo.png / photo.webp (a 320x240 scene), the same
    scene as each of `odd_inputs`, notes.txt (not an image) and /endless."""
    folder = tmp_path_factory.mktemp("inputs")
    scene = gift_box_scene()
    (folder / "photo.jpg").write_bytes(encode(scene, "JPEG", quality=90))
    (folder / "photo.png").write_bytes(encode(scene, "PNG"))
    (folder / "photo.webp").write_bytes(encode(scene, "WEBP"))
    for name, (data, _) in odd_inputs(scene).items():
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not an image\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_InputHandler, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def http() -> urllib3.PoolManager:
    """A client that never retries or redirects on its own, so each test sees raw answers."""
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=20))


@pytest.fixture
def make_provider(engine: Engine) -> Iterator[Callable[..., LocalProvider]]:
    """Start providers (sharing the session's engine) with config overrides; all stopped at teardown."""
    started: list[LocalProvider] = []

    def make(**overrides: Any) -> LocalProvider:
        provider = LocalProvider(replace(BASE_CONFIG, **overrides), engine=engine).start()
        started.append(provider)
        return provider

    yield make
    for provider in started:
        provider.stop()


@pytest.fixture
def provider(make_provider: Callable[..., LocalProvider]) -> LocalProvider:
    return make_provider()


@pytest.fixture
def api(http: urllib3.PoolManager, provider: LocalProvider) -> Api:
    return Api(http, provider)


@pytest.fixture
def quick_tasks(provider: LocalProvider) -> None:
    """Tasks on `provider` fail at once, for tests about the API rather than the engine."""
    provider.faults.update(task_fail_rate=1.0)
