"""The provider as a process and a service: its command line, its logs, its shutdown."""

import logging
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import urllib3

import cutout_local
from cutout_local.provider import LocalProvider, ProviderConfig
from tests.local_stack.provider.provider_helpers import KEY

REPO_ROOT = str(Path(cutout_local.__file__).resolve().parents[1])


def test_logs_name_each_request_but_never_a_key_a_signature_or_a_token(api, provider, inputs, caplog):
    caplog.set_level(logging.INFO)
    body = api.wait(api.task_id(f"{inputs}/photo.jpg?X-Amz-Signature=s3cr3t"))
    url = body["images"][0]["image_url"]
    api.get(url)
    api.wait(api.task_id("http://127.0.0.1:9/unreachable.jpg?X-Amz-Signature=s3cr3t"))
    api.submit(f"{inputs}/photo.jpg", key="sk_wrong_key_123")
    text = caplog.text
    assert "POST /v3/async/image-remove-background 200" in text
    assert "POST /v3/async/image-remove-background 401" in text
    assert "GET /v3/async/task-result 200" in text
    assert "GET /results/" in text
    for secret in (
        KEY,
        "sk_wrong_key_123",
        "Bearer",
        "Authorization",
        "task_id=",
        "s3cr3t",
        url.rsplit("/", 1)[1],
    ):
        assert secret not in text


def test_stop_ends_the_workers_and_closes_the_port(engine, http):
    before = set(threading.enumerate())  # other providers (other test modules) may be running
    provider = LocalProvider(ProviderConfig(api_keys=(KEY,), port=0, workers=3), engine=engine).start()
    url = provider.base_url + "/_local/health"
    assert http.request("GET", url).json()["engine_loaded"] is True
    assert [t for t in threading.enumerate() if t not in before and t.name.startswith("provider-")]
    provider.stop()
    assert not [t for t in threading.enumerate() if t not in before and t.name.startswith("provider-")]
    with pytest.raises(urllib3.exceptions.NewConnectionError):
        http.request("GET", url)


def test_a_taken_port_is_a_clear_error(engine, provider):
    port = int(provider.base_url.rsplit(":", 1)[1])
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
        LocalProvider(ProviderConfig(api_keys=(KEY,), port=port), engine=engine).start()


def test_the_command_line_serves_until_sigterm(http):
    env = {**os.environ, "CUTOUT_PROVIDER_API_KEYS": KEY, "PYTHONPATH": REPO_ROOT}
    cmd = [sys.executable, "-m", "cutout_local.provider", "--port", "0", "--no-preload", "--rate-limit", "2"]
    process = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stderr.readline()
        base_url = re.search(r"listening on (http://\S+)", first).group(1)
        assert http.request("GET", base_url + "/_local/health").json()["model"] == "u2netp"
        response = http.request(
            "POST",
            base_url + "/v3/async/image-remove-background",
            body=b"{}",
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert response.status == 400
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=10)
    assert process.returncode == 0
    assert KEY not in first + rest


def test_the_command_line_wants_a_key():
    env = {k: v for k, v in os.environ.items() if k != "CUTOUT_PROVIDER_API_KEYS"} | {"PYTHONPATH": REPO_ROOT}
    done = subprocess.run(
        [sys.executable, "-m", "cutout_local.provider"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "--api-key" in done.stderr
