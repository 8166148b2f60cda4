"""What `make demo` and `make up` print for people: one line per outcome, one line (and a non-zero exit)
for Ctrl-C or a port already taken, and `make up`'s fixed bucket names."""

from __future__ import annotations

import copy
import json
import re
import signal
import socket
from types import SimpleNamespace

import pytest

import cutout_local.__main__ as cli
import cutout_local.demo
from cutout_local.aws.lambda_runtime import ProcessRuntime
from cutout_local.console import (
    INTERRUPTED,
    FunctionLog,
    PortInUseError,
    check_ports_free,
    ending,
    event_line,
    outcome_line,
    plural,
)
from tests.support.events import EVENTS
from tests.support.template_env import load_template


def _event(name: str) -> dict:
    return copy.deepcopy(json.loads((EVENTS / name).read_text()))


@pytest.fixture
def listening():
    """A port something listens on."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def quiet_main(monkeypatch):
    """What ``main`` changes for its process (environment, SIGTERM handler, echoing the functions' logs),
    put back after the test."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    monkeypatch.setattr(ProcessRuntime, "echo_logs", ProcessRuntime.echo_logs)


def test_a_cutout_line_names_the_upload_what_was_written_and_the_seconds():
    line = outcome_line("photo.jpg", ["cutouts/photo.png"], failed=False, seconds=2.08, progress=(2, 7))
    assert line == "  [2/7] ✓ photo.jpg → cutouts/photo.png  (2.1 s)"


def test_a_failure_line_names_the_record_and_the_reason():
    line = outcome_line(
        "notes.jpg",
        ["failures/uploads/notes.jpg.json"],
        failed=True,
        reason="UnsupportedInputError: not an image",
    )
    assert line == "  ✗ notes.jpg → failures/uploads/notes.jpg.json: UnsupportedInputError: not an image"


def test_a_created_event_gives_its_outputs_and_the_seconds_from_admission():
    event = _event("cutout_created.json")
    event["detail"]["source"]["key"] = "uploads/albums/cat.jpg"
    event["detail"]["outputs"] = [{**event["detail"]["outputs"][0], "key": "cutouts/albums/cat.png"}] * 2
    event["detail"]["outputs"][1] = {**event["detail"]["outputs"][1], "key": "variants/thumb/albums/cat.webp"}
    assert event_line(event) == (
        "  ✓ albums/cat.jpg → cutouts/albums/cat.png, variants/thumb/albums/cat.webp  (9.5 s)"
    )  # 09:41:12.402 → 09:41:21.873


def test_a_failed_event_gives_the_record_and_the_reason():
    event = _event("cutout_failed.json")
    assert event_line(event).startswith(
        "  ✗ scans/receipt 2026-11.jpg → failures/uploads/scans/receipt 2026-11.jpg.json  ("
    )
    assert event_line(event).endswith(
        ": ProviderTaskFailedError: IMAGE_UNREADABLE: no foreground subject could be detected"
    )


def test_an_upload_refused_at_admission_has_no_seconds():
    event = _event("cutout_failed.json")
    event["detail"]["timings"]["admitted_at"] = None
    assert " s)" not in event_line(event)


def test_counts_are_singular_for_one():
    assert [plural(n, "failure record") for n in (0, 1, 2)] == [
        "0 failure records",
        "1 failure record",
        "2 failure records",
    ]


def test_ctrl_c_ends_with_one_line_and_the_shells_status():
    line, status = ending(KeyboardInterrupt())
    assert "\n" not in line
    assert line.startswith("✗ Stopped by Ctrl-C")
    assert status == INTERRUPTED == 130


def test_a_port_clash_ends_with_one_line_naming_the_port_and_the_option():
    line, status = ending(PortInUseError(5050, "--port"))
    assert "\n" not in line
    assert "port 5050 is already in use" in line
    assert "--port" in line
    assert status == 1


def test_any_other_error_keeps_its_traceback():
    assert ending(ValueError("a bug")) is None


def test_a_taken_port_is_found_before_anything_starts(listening):
    with pytest.raises(PortInUseError) as taken:
        check_ports_free({"--port": 0, "--provider-port": listening})
    assert (taken.value.port, taken.value.option) == (listening, "--provider-port")


def test_up_on_a_taken_port_prints_one_line_and_exits_1(listening, quiet_main, capsys):
    assert cli.main(["up", "--port", str(listening), "--logs", "/dev/null"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"port {listening} is already in use" in err


def test_ctrl_c_in_the_demo_prints_one_line_and_exits_130(quiet_main, monkeypatch, capsys):
    def interrupted(out):
        raise KeyboardInterrupt

    monkeypatch.setattr(cutout_local.demo, "run_demo", interrupted)
    assert cli.main(["demo"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == [ending(KeyboardInterrupt())[0]]


def test_the_function_log_gets_each_invocations_lines_once(tmp_path):
    log = FunctionLog(tmp_path / "out" / "functions.log")
    first, second = SimpleNamespace(logs='{"a": 1}\n'), SimpleNamespace(logs='{"b": 2}\n')
    log.write([first])
    log.write([first, second])
    assert (tmp_path / "out" / "functions.log").read_text() == '{"a": 1}\n{"b": 2}\n'


def test_up_names_its_buckets_as_the_template_allows():
    parameters = load_template()["Parameters"]
    assert cli.BUCKETS == {"InputBucketName": "cutout-input", "OutputBucketName": "cutout-output"}
    for name, bucket in cli.BUCKETS.items():
        assert re.fullmatch(parameters[name]["AllowedPattern"], bucket)
