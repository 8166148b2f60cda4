"""The local stack's command line: `python -m cutout_local demo|up` (the provider alone:
`python -m cutout_local.provider --help`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m cutout_local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the sample photos through the local stack into ./out")
    demo.add_argument("--out", type=Path, default=Path("out"), help="output folder (default ./out)")
    up = commands.add_parser("up", help="run the local stack until Ctrl-C, for the AWS CLI or your own code")
    up.add_argument("--port", type=int, default=5050, help="emulated AWS endpoint port (default 5050)")
    up.add_argument("--provider-port", type=int, default=8088, help="local provider port (default 8088)")
    up.add_argument("--per-minute", type=int, default=60, help="provider images per minute (default 60)")
    up.add_argument("--log-level", default="INFO", help="the functions' log level (default INFO)")
    args = parser.parse_args()

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no CloudWatch: keep EMF off the console
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "demo":
        from cutout_local.demo import run_demo

        run_demo(args.out)
    else:
        run_up(args.port, args.provider_port, args.per_minute, args.log_level)


def run_up(port: int, provider_port: int, per_minute: int, log_level: str) -> None:
    from cutout_local.stack import LocalStack

    stack = LocalStack(port=port, provider_port=provider_port, per_minute=per_minute, log_level=log_level)
    with stack:
        out = stack.outputs
        assert stack.aws is not None
        endpoint = stack.aws.endpoint_url
        print(
            f"""Cutout local stack is up. Ctrl-C stops it.

  emulated AWS     {endpoint}   (credentials: any, e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test)
  local provider   {stack.provider.base_url}   (API key {stack.api_key})
  input bucket     {out["InputBucketName"]}
  output bucket    {out["OutputBucketName"]}
  state machine    {out["StateMachineArn"]}

Try:
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url {endpoint} s3 cp photo.jpg s3://{out["InputBucketName"]}/uploads/photo.jpg
  aws --endpoint-url {endpoint} s3 ls s3://{out["OutputBucketName"]}/ --recursive
  aws --endpoint-url {endpoint} s3 cp s3://{out["OutputBucketName"]}/cutouts/photo.png .""",
            flush=True,
        )
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, and a service manager's stop
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        print("\nStopping...", flush=True)


if __name__ == "__main__":
    main()
