"""The local stack's command line: `python -m cutout_local demo|up` (the provider alone:
`python -m cutout_local.provider --help`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from cutout_cli.stacks import announce_local, withdraw_local
from cutout_local.console import (
    FunctionLog,
    check_ports_free,
    ending,
    event_line,
    plural,
    read_events,
    subscribe,
)

ROOT = Path(__file__).resolve().parent.parent
#: `make up`'s buckets (the template's InputBucketName and OutputBucketName), the same at every start.
BUCKETS = {"InputBucketName": "cutout-input", "OutputBucketName": "cutout-output"}
#: The queue `make up` subscribes to the completion events, to print one line per outcome.
OUTCOMES_QUEUE = "cutout-local-outcomes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cutout_local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the sample photos through the local stack into ./out")
    demo.add_argument("--out", type=Path, default=Path("out"), help="output folder (default ./out)")
    up = commands.add_parser("up", help="run the local stack until Ctrl-C, for the AWS CLI or your own code")
    up.add_argument("--port", type=int, default=5050, help="emulated AWS endpoint port (default 5050)")
    up.add_argument("--provider-port", type=int, default=8088, help="local provider port (default 8088)")
    up.add_argument("--per-minute", type=int, default=60, help="provider images per minute (default 60)")
    up.add_argument("--log-level", default="INFO", help="the functions' log level (default INFO)")
    up.add_argument(
        "--logs",
        type=Path,
        default=Path("out/functions.log"),
        help="file for the functions' JSON log lines (default out/functions.log)",
    )
    up.add_argument("--echo-logs", action="store_true", help="print the functions' log lines here too")
    up.add_argument(
        "--preload",
        type=Path,
        metavar="DIR",
        help="put DIR's files under uploads/ before the notifications are on, for `cutout backfill`",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no CloudWatch: keep EMF off the console
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminated)  # a service manager's stop: the stack is stopped too
    try:
        if args.command == "demo":
            from cutout_local.aws.lambda_runtime import ProcessRuntime
            from cutout_local.demo import run_demo

            ProcessRuntime.echo_logs = False  # the demo writes them to <out>/functions.log
            run_demo(args.out)
        else:
            check_ports_free({"--port": args.port, "--provider-port": args.provider_port})
            if args.preload is not None and not args.preload.is_dir():
                parser.error(f"--preload {args.preload}: not a directory")
            run_up(
                args.port,
                args.provider_port,
                args.per_minute,
                args.log_level,
                args.logs,
                args.echo_logs,
                args.preload,
            )
    except BaseException as error:
        known = ending(error)
        if known is None:
            raise
        line, status = known
        if isinstance(error, KeyboardInterrupt):
            print(file=sys.stderr)  # past the terminal's ^C
        print(line, file=sys.stderr, flush=True)
        return status
    return 0


def _terminated(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def run_up(
    port: int,
    provider_port: int,
    per_minute: int,
    log_level: str,
    logs: Path,
    echo: bool,
    preload: Path | None = None,
) -> None:
    from cutout_local.aws.lambda_runtime import ProcessRuntime
    from cutout_local.stack import LocalStack

    ProcessRuntime.echo_logs = echo
    function_log = FunctionLog(logs)
    stack = LocalStack(
        port=port,
        provider_port=provider_port,
        per_minute=per_minute,
        log_level=log_level,
        parameters=BUCKETS,
        provider={"preload_engine": True},  # the model loaded before the first upload, not during it
    )
    print("Starting the local stack (emulated AWS + local Novita-compatible provider)...", flush=True)
    with stack:
        assert stack.aws is not None
        out = stack.outputs
        endpoint = stack.aws.endpoint_url
        queue = subscribe(stack.client("events"), stack.client("sqs"), OUTCOMES_QUEUE)
        announced = announce_local(endpoint, stack.aws.stack_name, stack.aws.region)
        if preload is not None:
            files = sorted(p for p in preload.rglob("*") if p.is_file())
            put = stack.preload(
                (f"uploads/{p.relative_to(preload).as_posix()}", p.read_bytes()) for p in files
            )
            print(
                f"Preloaded {plural(put, 'object')} from {preload} with the notifications off: "
                "`.venv/bin/cutout backfill` processes them.",
                flush=True,
            )
        aws_cli = ROOT / ".venv-aws" / "bin"
        path = f'PATH="{aws_cli}:$PATH" ' if aws_cli.is_dir() else ""
        print(
            f"""Cutout local stack is up. Ctrl-C stops it; nothing is kept (the emulator lives in memory).

  emulated AWS     {endpoint}   (credentials: any, e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test)
  local provider   {stack.provider.base_url}   (API key {stack.api_key})
  input bucket     {out["InputBucketName"]}   (uploads under uploads/)
  output bucket    {out["OutputBucketName"]}
  state machine    {out["StateMachineArn"]}
  function logs    {logs}   (JSON, as CloudWatch Logs gets them)

In another terminal, with the cutout command (it finds this stack while it runs):
  .venv/bin/cutout push photo.jpg --wait --download out/
  .venv/bin/cutout ls; .venv/bin/cutout status photo.jpg; .venv/bin/cutout --help

or the AWS CLI:
  export {path}AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \\
         AWS_ENDPOINT_URL={endpoint}
  aws s3 cp photo.jpg s3://{out["InputBucketName"]}/uploads/photo.jpg
  aws s3 ls s3://{out["OutputBucketName"]}/ --recursive
  aws s3 cp s3://{out["OutputBucketName"]}/cutouts/photo.png .

Outcomes, as they land (seconds from admission):""",
            flush=True,
        )
        sqs = stack.client("sqs")
        try:
            while True:
                for event in read_events(sqs, queue):
                    print(event_line(event), flush=True)
                function_log.write(stack.aws.invocations)
        finally:
            withdraw_local(announced)
            function_log.write(stack.aws.invocations)


if __name__ == "__main__":
    sys.exit(main())
