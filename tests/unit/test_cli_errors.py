"""The `cutout` command's errors, each one line with an exit status a script can use, before any AWS
call can be made: no stack anywhere, no credentials, an unknown profile, a bad option or time."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cutout_cli.main import main
from cutout_cli.stacks import AWS_REFUSED, LOCAL_STACK_FILE, NOT_FOUND

COMMAND = Path(sys.executable).parent / "cutout"


@pytest.fixture(autouse=True)
def nowhere(monkeypatch, tmp_path):
    """No local stack announced, no credentials or profiles, no instance metadata to ask."""
    monkeypatch.setenv(LOCAL_STACK_FILE, str(tmp_path / "local-stack.json"))
    for name in (
        "CUTOUT_STACK",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def run(capsys, *args):
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_nothing_running_locally_and_no_stack_named(capsys):
    status, out, err = run(capsys, "status", "a.jpg")
    assert status == NOT_FOUND
    assert (out, err.count("\n")) == ("", 1)
    assert "nothing is running locally" in err
    assert "--stack NAME" in err


def test_a_local_stack_that_ended_without_saying_so(capsys, tmp_path):
    (tmp_path / "local-stack.json").write_text(
        '{"endpoint_url": "http://127.0.0.1:9", "stack": "cutout", "region": "us-east-1", "pid": 999999999}'
    )
    status, _, err = run(capsys, "ls")
    assert status == NOT_FOUND
    assert "the last `make up` ended" in err


def test_no_credentials_for_a_deployed_stack(capsys):
    status, out, err = run(capsys, "ls", "--stack", "cutout-prod")
    assert status == AWS_REFUSED
    assert (out, err.count("\n")) == ("", 1)
    assert "no AWS credentials" in err


def test_an_unknown_profile(capsys):
    status, _, err = run(capsys, "ls", "--stack", "cutout-prod", "--profile", "nobody")
    assert status == AWS_REFUSED
    assert "no AWS profile 'nobody'" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["push", "{file}", "-o", "format=gif"], 'option "format" = "gif"'),
        (["push", "{file}", "-o", "format"], "is not NAME=VALUE"),
        (["retry", "--failed", "--since", "last week"], "30m, 2h, 1d"),
        (["retry"], "give KEY…, or --failed"),
        (["retry", "a.jpg", "--since", "1h"], "--since goes with --failed"),
        (
            ["retry", "a.jpg", "b.jpg", "--version-id", "v1"],
            "--version-id and --attempt go with exactly one KEY",
        ),
        (["retry", "--failed", "--attempt", "2"], "--version-id and --attempt go with exactly one KEY"),
        (["retry", "a.jpg", "--attempt", "0"], "0 is not in the range x>=1"),
        (["get"], "give KEY…, or --all DIR"),
        (["status"], "give KEY, or --backfill"),
        (["push", "/no/such/file.jpg"], "does not exist"),
    ],
)
def test_usage_errors_exit_2_before_anything_is_asked(capsys, tmp_path, args, says):
    (tmp_path / "a.jpg").write_bytes(b"x")
    status, _, err = run(capsys, *[a.replace("{file}", str(tmp_path / "a.jpg")) for a in args])
    assert status == 2
    assert says in err


def test_the_installed_command_runs_and_exits_with_its_status(tmp_path):
    env = {**os.environ, LOCAL_STACK_FILE: str(tmp_path / "none.json")}
    help_ = subprocess.run([COMMAND, "--help"], capture_output=True, text=True, env=env, check=False)
    assert help_.returncode == 0
    for command in ("push", "watch", "ls", "get", "status", "retry", "backfill", "redrive"):
        assert command in help_.stdout
    ls = subprocess.run([COMMAND, "ls"], capture_output=True, text=True, env=env, check=False)
    assert ls.returncode == NOT_FOUND
    assert ls.stderr.startswith("cutout: no stack: nothing is running locally")
    assert ls.stdout == ""
