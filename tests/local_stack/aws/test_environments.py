"""The Lambda runtime's execution environments: a child process each, isolated like AWS's, concurrent up to a
cap, reused when warm, stopped at their Timeout, and all gone when the stack stops. The functions here run
the probe (fixture/functions/probe), created through the Lambda API."""

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cutout_local.aws import LocalAws
from cutout_local.aws.lambda_runtime import WORKER
from tests.local_stack.aws.helpers import TEMPLATE, create_probe, invoke, invoke_all, max_overlap

#: what the runtime sets and the emulator adds, besides the function's variables (LC_CTYPE: Python's own
#: locale coercion where LANG's locale is not installed)
RUNTIME_VARIABLES = {
    "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_SAM_LOCAL", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_EXECUTION_ENV", "TZ", "LANG", "PATH",
    "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
}  # fmt: skip


def of(aws, name):
    return [i for i in aws.invocations if i.function_name == name]


def gone(pid):
    """The process has ended and been reaped (or is a zombie that is not ours to reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_functions_side_by_side_see_only_their_own_environment_and_modules(aws, monkeypatch):
    monkeypatch.setenv("CUTOUT_PARENT_ONLY", "must not leak")
    create_probe(aws, "probe-a", {"PROBE": "a", "ONLY_A": "yes"})
    create_probe(aws, "probe-b", {"PROBE": "b"})

    (a, _), (b, _) = invoke_all(aws, [("probe-a", {"sleep": 0.5}), ("probe-b", {"sleep": 0.5})])

    assert (a["mark"], b["mark"]) == ("a", "b")
    assert a["environ"]["ONLY_A"] == "yes"
    assert "ONLY_A" not in b["environ"]
    for name, seen in (("probe-a", a), ("probe-b", b)):
        env = seen["environ"]
        function_variables = {"PROBE", "ONLY_A"} if name == "probe-a" else {"PROBE"}
        assert set(env) - {"LC_CTYPE"} == function_variables | RUNTIME_VARIABLES
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
        assert env["AWS_ENDPOINT_URL"] == aws.endpoint_url
        assert env["AWS_ACCESS_KEY_ID"] == "test"
        assert seen["cwd"] == env["LAMBDA_TASK_ROOT"] == seen["sys_path"][0]
        assert seen["module"] == "app"
        assert seen["foreign_modules"] == []  # nothing of this process's packages (moto, pytest, cutout...)
        assert 0 < seen["remaining_ms"] <= 30_000
    assert len({a["pid"], b["pid"], os.getpid()}) == 3
    assert max_overlap(aws.invocations) == 2


def test_each_environment_of_a_function_has_its_own_module_state_and_keeps_it_when_warm(aws):
    create_probe(aws, "probe")

    first = invoke_all(aws, [("probe", {"sleep": 0.5})] * 2)
    later = [invoke(aws, "probe") for _ in range(4)]

    assert [p["calls"] for p, _ in first] == [1, 1]
    pids = {p["pid"] for p, _ in first}
    assert len(pids) == 2  # two environments at once, each with its own module state
    assert {p["pid"] for p, _ in later} <= pids  # reused: warm
    calls = {pid: 1 for pid in pids}
    for p, _ in later:
        calls[p["pid"]] += 1
        assert p["calls"] == calls[p["pid"]]  # counts on in its own environment
    cold = [i.cold for i in of(aws, "probe")]
    assert cold == [True, True, False, False, False, False]
    assert len({i.environment for i in of(aws, "probe")}) == 2


def test_invocations_overlap_up_to_the_reserved_concurrency_and_wait_beyond_it(aws):
    create_probe(aws, "probe", reserved=3)

    began = time.monotonic()
    results = invoke_all(aws, [("probe", {"sleep": 1.0})] * 9)
    seconds = time.monotonic() - began

    assert [error for _, error in results] == [None] * 9
    assert 3.0 <= seconds < 7.0  # three rounds of three, not nine in a row (9 s)
    assert len({i.environment for i in of(aws, "probe")}) == 3
    assert max_overlap(of(aws, "probe")) == 3
    assert sum(i.waited > 0.5 for i in of(aws, "probe")) >= 6  # the ones past the cap waited for a turn


def test_without_reserved_concurrency_the_cap_is_the_stacks_setting():
    with LocalAws(template=TEMPLATE, max_environments_per_function=4) as aws:
        create_probe(aws, "probe")

        began = time.monotonic()
        invoke_all(aws, [("probe", {"sleep": 1.0})] * 8)
        seconds = time.monotonic() - began

        assert 2.0 <= seconds < 6.0
        assert len({i.environment for i in of(aws, "probe")}) == 4
        assert max_overlap(of(aws, "probe")) == 4


def test_a_function_past_its_timeout_is_stopped_and_its_environment_replaced(aws):
    create_probe(aws, "probe", timeout=1)
    invoke(aws, "probe")
    [pid] = aws.lambda_pids()

    payload, error = invoke(aws, "probe", {"print": "about to overrun", "sleep": 30})

    assert error == "Handled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    timed_out = of(aws, "probe")[-1]
    assert type(timed_out.error).__name__ == "Sandbox.Timedout"
    assert "about to overrun" in timed_out.logs  # printed before it was stopped: not lost
    assert timed_out.ended - timed_out.started < 10
    assert gone(pid)
    after, error = invoke(aws, "probe")
    assert error is None
    assert after["calls"] == 1  # a new environment (cold)
    assert after["pid"] != pid


def test_an_environment_whose_process_ends_fails_the_invocation_and_is_replaced(aws):
    create_probe(aws, "probe")

    payload, error = invoke(aws, "probe", {"exit": 3})
    after, _ = invoke(aws, "probe")

    assert error == "Handled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert after["calls"] == 1


def test_what_a_function_prints_is_kept_per_invocation_and_printed(aws, capsys):
    create_probe(aws, "probe")

    invoke_all(aws, [("probe", {"print": f"line of call {n}", "sleep": 0.3}) for n in range(3)])

    printed = capsys.readouterr().out
    for n in range(3):
        [invocation] = [i for i in of(aws, "probe") if i.event.get("print") == f"line of call {n}"]
        assert invocation.logs.splitlines() == [f"line of call {n}"]  # its own, nothing of the others
        assert f"line of call {n}" in aws.function_logs
        assert f"line of call {n}\n" in printed
    assert '"payload"' not in printed  # the protocol channel is apart from the function's output


def test_what_a_function_prints_goes_to_cloudwatch_logs_in_a_stream_per_environment(aws):
    """Without LoggingConfig, in /aws/lambda/<name>, as Lambda writes it: one event per line, in the
    stream of the environment that ran the invocation (AWS_LAMBDA_LOG_STREAM_NAME)."""
    create_probe(aws, "probe")

    invoke_all(aws, [("probe", {"print": f"line of call {n}", "sleep": 0.5}) for n in range(2)])
    seen, _ = invoke(aws, "probe", {"print": "a warm call"})

    logs = aws.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/probe")["logStreams"]
    assert sorted(s["logStreamName"] for s in streams) == sorted({i.environment for i in of(aws, "probe")})
    assert len(streams) == 2
    for invocation in of(aws, "probe"):
        events = logs.get_log_events(logGroupName="/aws/lambda/probe", logStreamName=invocation.environment)
        assert invocation.event["print"] in [e["message"] for e in events["events"]]
    assert seen["environ"]["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/probe"
    assert seen["environ"]["AWS_LAMBDA_LOG_STREAM_NAME"] == of(aws, "probe")[-1].environment


def test_every_environment_ends_with_the_stack_even_one_that_is_busy():
    outcome = {}
    with LocalAws(template=TEMPLATE) as aws:
        create_probe(aws, "probe")
        create_probe(aws, "probe-busy")
        invoke_all(aws, [("probe", {"sleep": 0.3})] * 2)
        busy = threading.Thread(target=lambda: outcome.update(busy=invoke(aws, "probe-busy", {"sleep": 60})))
        busy.start()
        deadline = time.monotonic() + 30
        while len(aws.lambda_pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # its Init done, the invocation running
        pids = aws.lambda_pids()
    assert len(pids) == 3
    assert [pid for pid in pids if not gone(pid)] == []
    busy.join(30)
    assert not busy.is_alive()
    assert outcome["busy"][1] == "Handled"  # the invocation failed: its environment was ended under it


def interrupted_with_environments(pids):
    with LocalAws(template=TEMPLATE) as aws:
        create_probe(aws, "probe")
        invoke_all(aws, [("probe", {"sleep": 0.3})] * 2)
        pids += aws.lambda_pids()
        raise KeyboardInterrupt  # as a Ctrl-C would, here


def test_every_environment_ends_when_the_block_is_interrupted():
    pids = []
    with pytest.raises(KeyboardInterrupt):
        interrupted_with_environments(pids)
    assert len(pids) == 2
    assert [pid for pid in pids if not gone(pid)] == []


def test_an_environment_ends_on_its_own_when_its_parent_dies(tmp_path):
    """Killed without a chance to stop anything (SIGKILL), the parent leaves a busy worker behind: it
    notices and exits."""
    (tmp_path / "app.py").write_text("import time\n\ndef handler(event, context):\n    time.sleep(60)\n")
    parent = textwrap.dedent(f"""
        import json, os, subprocess, sys
        worker = subprocess.Popen([sys.executable, "-I", {str(WORKER)!r}], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, cwd={str(tmp_path)!r})
        init = {{"paths": [{str(tmp_path)!r}], "handler": "app.handler", "log": {str(tmp_path / "log")!r}}}
        worker.stdin.write(json.dumps({{"init": init}}).encode() + b"\\n")
        worker.stdin.flush()
        assert json.loads(worker.stdout.readline())["ready"]
        invoke = {{"request_id": "r", "event": {{}}, "timeout": 60, "function_arn": None}}
        worker.stdin.write(json.dumps({{"invoke": invoke}}).encode() + b"\\n")
        worker.stdin.flush()
        print(worker.pid, flush=True)
        os.kill(os.getpid(), 9)
    """)
    run = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=60)
    pid = int(run.stdout)

    deadline = time.monotonic() + 10
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(pid)
