"""Process uploads again without uploading them again: each request goes on the ingest queue and is
admitted like an upload, once (see "Reprocessing" in the README and cutout/reprocessing.py).

    python tools/reprocess.py --stack cutout uploads/cat.jpg          # the object as it is now
    python tools/reprocess.py --stack cutout uploads/cat.jpg --version-id 3sL4kq...
    python tools/reprocess.py --stack cutout --failed                 # every upload with a failure record
    python tools/reprocess.py --stack cutout --failed --prefix uploads/albums/
    python tools/reprocess.py --queue URL --input-bucket NAME --output-bucket NAME KEY...

With --stack the queue, buckets and prefixes come from the stack (its outputs, and SubmitFunction's
environment); otherwise name them (the prefixes default to the template's). Works against AWS and the
local stack (set AWS_ENDPOINT_URL). Each request is attempt n + 1 of its key, n being the attempt of the
key's current outcome: running this twice before the first request has its outcome asks for the same
attempt, which runs once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "common"))

from cutout.reprocessing import Target, failed_uploads, request_reprocess
from cutout.state import SourceObject


def target_of_stack(stack: str) -> Target:
    """The stack's queue and buckets (outputs) and prefixes (SubmitFunction's environment, as it runs)."""
    cloudformation = boto3.client("cloudformation")
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    [name] = [
        resource["PhysicalResourceId"]
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
        for resource in page["StackResourceSummaries"]
        if resource["LogicalResourceId"] == "SubmitFunction"
    ]
    env = boto3.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    return Target(
        queue_url=values["IngestQueueUrl"],
        input_bucket=values["InputBucketName"],
        output_bucket=values["OutputBucketName"],
        input_prefix=env.get("INPUT_PREFIX", ""),
        output_prefix=env["OUTPUT_PREFIX"],
        failure_prefix=env["FAILURE_PREFIX"],
        variant_prefix=env.get("VARIANT_PREFIX", "variants/"),
    )


def reprocess(
    target: Target,
    keys: list[str],
    *,
    version_id: str | None = None,
    attempt: int | None = None,
    failed: bool = False,
    prefix: str = "",
) -> list[str]:
    """Send the requests; returns one line per request saying what was asked."""
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    if failed:
        uploads = list(failed_uploads(s3, target, prefix))
    else:
        uploads = [SourceObject(target.input_bucket, key, version_id=version_id) for key in keys]
    lines = []
    for upload in uploads:
        request = request_reprocess(sqs, s3, target, upload.key, upload.version_id, attempt)
        version = request.source.version_id or "as it is now"
        lines.append(f"requested {upload.key} (version: {version}), attempt {request.attempt}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("keys", nargs="*", metavar="KEY", help="object keys in the input bucket")
    parser.add_argument("--failed", action="store_true", help="every upload that has a failure record")
    parser.add_argument("--prefix", default="", help="with --failed: only keys under this prefix")
    parser.add_argument("--version-id", help="with one KEY: this version (default: the object as it is now)")
    parser.add_argument("--attempt", type=int, help="the attempt number (default: 1 + the current outcome's)")
    parser.add_argument("--stack", help="stack name (queue, buckets and prefixes from the stack)")
    parser.add_argument("--queue", help="ingest queue URL")
    parser.add_argument("--input-bucket", help="input bucket name")
    parser.add_argument("--output-bucket", help="output bucket name")
    parser.add_argument("--input-prefix", default="uploads/")
    parser.add_argument("--output-prefix", default="cutouts/")
    parser.add_argument("--failure-prefix", default="failures/")
    args = parser.parse_args()
    if args.failed == bool(args.keys):
        parser.error("give KEY..., or --failed")
    if args.version_id and len(args.keys) != 1:
        parser.error("--version-id goes with exactly one KEY")
    if args.attempt is not None and args.attempt < 1:
        parser.error("--attempt must be 1 or more")
    if args.stack:
        target = target_of_stack(args.stack)
    elif args.queue and args.input_bucket and args.output_bucket:
        target = Target(
            args.queue,
            args.input_bucket,
            args.output_bucket,
            args.input_prefix,
            args.output_prefix,
            args.failure_prefix,
        )
    else:
        parser.error("give --stack, or --queue, --input-bucket and --output-bucket")
    lines = reprocess(
        target,
        args.keys,
        version_id=args.version_id,
        attempt=args.attempt,
        failed=args.failed,
        prefix=args.prefix,
    )
    print("\n".join(lines) if lines else "nothing to reprocess")


if __name__ == "__main__":
    main()
