"""Backfills: the objects already in the input bucket, processed by the stack's backfill state machine
(output ``BackfillStateMachineArn``): a Distributed Map over the bucket's listing that puts one message
per object on the ingest queue, where admission treats it as the object's own notification (an object
whose upload already has an outcome, or an execution, is not processed again). It runs inside AWS: the
command only starts it, and ``cutout status --backfill`` reads its map run's counts."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from cutout.keys import CUTOUT_EXTENSIONS, failure_key, output_key
from cutout_cli.stacks import Stack
from cutout_cli.status import iso
from cutout_cli.watching import plural

RECENT = 5  # backfills shown by `cutout status --backfill`


def start(stack: Stack, prefix: str) -> dict[str, Any]:
    """Start a backfill of the objects under the input prefix + ``prefix``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"backfill-{stamp}-{secrets.token_hex(3)}"
    started = stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.output("BackfillStateMachineArn"),
        name=name,
        input=json.dumps({"prefix": prefix}),
    )
    return {
        "started": True,
        "execution": started["executionArn"],
        "bucket": stack.input_bucket,
        "prefix": f"{stack.input_prefix}{prefix}",
    }


def dry_run(stack: Stack, prefix: str) -> dict[str, Any]:
    """What a backfill of ``prefix`` would list: objects, and how many have a suffix admission accepts."""
    full = f"{stack.input_prefix}{prefix}"
    listed = accepted = size = 0
    paginator = stack.client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=stack.input_bucket, Prefix=full):
        for item in page.get("Contents", []):
            listed += 1
            size += item["Size"]
            accepted += item["Key"].lower().endswith(stack.accepted_suffixes)
    return {
        "started": False,
        "bucket": stack.input_bucket,
        "prefix": full,
        "objects": listed,
        "accepted_suffix": accepted,
        "bytes": size,
    }


def started_lines(found: dict[str, Any]) -> list[str]:
    where = f"s3://{found['bucket']}/{found['prefix']}"
    if found["started"]:
        return [
            f"backfill of {where} started: {found['execution']}",
            "It runs inside AWS: follow it with `cutout status --backfill`, "
            "its outcomes with `cutout watch`.",
        ]
    return [
        f"dry run: {plural(found['objects'], 'object')} under {where} ({found['bytes']:,} bytes), "
        f"{found['accepted_suffix']} with an accepted suffix "
        "(the others get a failure record, or are skipped).",
        "Objects whose upload already has an outcome are skipped at admission. Nothing was started.",
    ]


def outcomes(stack: Stack, prefix: str) -> dict[str, int]:
    """Where the objects under the input prefix + ``prefix`` stand now: how many have a cutout, a failure
    record, or no outcome yet. Three listings (the uploads, the cutouts, the failure records), matched by
    the names outcomes take (``cutout.keys``), without reading an object."""
    s3, bucket = stack.client("s3"), stack.output_bucket

    def listed(in_bucket: str, scope: str) -> set[str]:
        paginator = s3.get_paginator("list_objects_v2")
        return {
            item["Key"]
            for page in paginator.paginate(Bucket=in_bucket, Prefix=scope)
            for item in page.get("Contents", [])
        }

    uploads = listed(stack.input_bucket, f"{stack.input_prefix}{prefix}")
    cutouts = listed(bucket, stack.output_prefix)
    failures = listed(bucket, stack.failure_prefix)
    counts = {"objects": len(uploads), "cutouts": 0, "failed": 0, "without_outcome": 0}
    for key in uploads:
        if any(output_key(key, stack, extension) in cutouts for extension in CUTOUT_EXTENSIONS):
            counts["cutouts"] += 1
        elif failure_key(key, stack) in failures:
            counts["failed"] += 1
        else:
            counts["without_outcome"] += 1
    return counts


def recent(stack: Stack) -> list[dict[str, Any]]:
    """The latest backfills, newest first, each with its map run's item counts; the newest also with
    where its objects stand now (:func:`outcomes`)."""
    sfn = stack.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=stack.output("BackfillStateMachineArn"), maxResults=RECENT)
    runs = []
    for execution in listed["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        counts = None
        map_runs = sfn.list_map_runs(executionArn=execution["executionArn"]).get("mapRuns", [])
        if map_runs:
            counts = sfn.describe_map_run(mapRunArn=map_runs[0]["mapRunArn"])["itemCounts"]
        runs.append(
            {
                "execution": execution["executionArn"],
                "name": execution["name"],
                "status": execution["status"],
                "prefix": json.loads(described.get("input") or "{}").get("prefix", ""),
                "started": iso(execution["startDate"]),
                "stopped": iso(execution["stopDate"]) if execution.get("stopDate") else None,
                "items": counts,
                "error": described.get("error"),
                "cause": described.get("cause"),
                "outcomes": None,
            }
        )
    if runs:
        runs[0]["outcomes"] = outcomes(stack, runs[0]["prefix"])
    return runs


def lines(runs: list[dict[str, Any]]) -> list[str]:
    if not runs:
        return ["no backfill has run (start one with `cutout backfill`)"]
    shown = []
    for run in runs:
        shown.append(f"{run['name']}  {run['status']}  prefix {run['prefix']!r}  started {run['started']}")
        items = run["items"]
        if items:
            shown.append(
                f"  {plural(items['total'], 'object')} listed: {items['succeeded']} sent to admission, "
                f"{items['failed']} failed, {items['pending'] + items['running']} to go"
            )
        if run["error"]:
            shown.append(f"  {run['error']}: {run['cause']}")
        now = run["outcomes"]
        if now:
            shown.append(
                f"  now: {plural(now['cutouts'], 'cutout')}, {now['failed']} failed "
                f"(`cutout ls --failed` says why), {now['without_outcome']} without an outcome yet"
            )
    return shown
