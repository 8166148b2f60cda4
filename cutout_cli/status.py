"""Where one upload is: read from its executions (named deterministically after the upload and the
request: ``cutout.keys.execution_name``) and from its outcome in the output bucket, nothing else.

Stages, in order: ``not-admitted`` (no execution and no outcome: still on the queue, or skipped — the
functions' log says which), ``waiting`` (for its slot under the provider's rate, until ``slot_at``),
``submitted`` (the provider has it; ``polls`` so far), ``writing``, ``written``, ``failed`` (a failure
record, and why), ``superseded`` (overwritten before it was sent: the newer upload has its own)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cutout.keys import execution_name
from cutout.outcomes import Outcome, all_outcomes
from cutout.state import ExecutionState, SourceObject
from cutout_cli.stacks import NOT_FOUND, CliError, Stack

_WAITING = {"NeedsConversion", "Convert", "WaitForSlot", "Send"}
_WRITING = {"WriteResult", "Written", "WaitToWrite", "TaskFailed", "DeadlinePassed", "RecordFailure"}
HISTORY_PAGES = 20  # 20,000 events at most: an execution has a few per poll


def upload_status(stack: Stack, key: str) -> dict[str, Any]:
    """The status of upload ``key`` (as it is now in the input bucket, or as its outcome names it)."""
    s3, sfn = stack.client("s3"), stack.client("stepfunctions")
    outcomes = all_outcomes(s3, stack, key)
    source = _current(s3, stack.input_bucket, key)
    if source is None and outcomes:  # deleted since: the version its outcome is of
        newest = max(outcomes, key=lambda o: o.attempt)
        revision = sorted(newest.revisions)[0] if newest.revisions else None
        source = SourceObject(stack.input_bucket, key, version_id=revision)
    if source is None:
        raise CliError(f"no upload s3://{stack.input_bucket}/{key}, and no outcome of it", NOT_FOUND)
    executions = _executions(sfn, stack.output("StateMachineArn"), source, outcomes)
    status: dict[str, Any] = {
        "key": key,
        "version_id": source.version_id,
        "etag": source.etag,
        "stage": "not-admitted",
        "execution": None,
        "attempt": None,
        "admitted_at": None,
        "slot_at": None,
        "submitted_at": None,
        "task_id": None,
        "polls": 0,
        "provider_status": None,
        "outcome": _outcome(stack, source, outcomes),
    }
    if executions:
        attempt, description = executions[-1]
        status.update(_from_execution(sfn, description))
        status["attempt"] = attempt
    outcome = status["outcome"]
    if outcome is not None and status["stage"] in {"not-admitted", "written", "failed", "ended"}:
        status["stage"] = "written" if outcome["kind"] == "cutout" else "failed"
    if status["stage"] == "ended":
        status["stage"] = "unknown"
    return status


def _current(s3: Any, bucket: str, key: str) -> SourceObject | None:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
            return None
        raise
    return SourceObject(bucket, key, version_id=head.get("VersionId"), etag=head["ETag"].strip('"'))


def _executions(
    sfn: Any, machine: str, source: SourceObject, outcomes: list[Outcome]
) -> list[tuple[int, dict[str, Any]]]:
    """The executions of ``source``'s requests, by attempt: 0 (its notification), then each reprocess
    request's, up to one past the newest outcome's attempt (a request still running). Each is looked for
    under the upload's version id and under its ETag: a notification names the version only when the
    bucket is versioned (and the emulator's never does)."""
    prefix = machine.replace(":stateMachine:", ":execution:")
    last = max((o.attempt for o in outcomes), default=0) + 1
    revisions = {source, SourceObject(source.bucket, source.key, etag=source.etag)}
    found = []
    for attempt in range(last + 1):
        for revision in revisions:
            try:
                arn = f"{prefix}:{execution_name(revision, attempt)}"
                found.append((attempt, sfn.describe_execution(executionArn=arn)))
                break
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                    raise
    return found


def _from_execution(sfn: Any, description: dict[str, Any]) -> dict[str, Any]:
    state = ExecutionState.from_event(json.loads(description["input"]))
    current, last_state = None, state
    for event in _history(sfn, description["executionArn"]):
        entered = event.get("stateEnteredEventDetails")
        if entered:
            current = entered["name"]
        exited = event.get("stateExitedEventDetails")
        if exited and exited.get("output"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                last_state = ExecutionState.from_event(json.loads(exited["output"]))
    running = description["status"] == "RUNNING"
    if running:
        stage = "waiting" if last_state.task_id is None and current in _WAITING | {None} else "submitted"
        if current in _WRITING:
            stage = "writing"
    elif last_state.superseded:
        stage = "superseded"
    else:
        stage = "ended"  # the outcome says which
    return {
        "stage": stage,
        "execution": {
            "name": description["name"],
            "arn": description["executionArn"],
            "status": description["status"],
            "state": current if running else None,
            "started": iso(description["startDate"]),
            "stopped": iso(description["stopDate"]) if description.get("stopDate") else None,
        },
        "admitted_at": iso(state.admitted_at),
        "slot_at": iso(last_state.slot.at),
        "submitted_at": iso(last_state.submitted_at) if last_state.submitted_at else None,
        "task_id": last_state.task_id,
        "polls": last_state.poll.count if last_state.task_id else 0,
        "provider_status": last_state.poll.status if last_state.poll.count else None,
    }


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    paginator = sfn.get_paginator("get_execution_history")
    for number, page in enumerate(paginator.paginate(executionArn=arn, PaginationConfig={"PageSize": 1000})):
        events.extend(page["events"])
        if number + 1 >= HISTORY_PAGES:
            break
    return events


def _outcome(stack: Stack, source: SourceObject, outcomes: list[Outcome]) -> dict[str, Any] | None:
    """The key's outcome standing now, and whether it is of this upload (a newer upload's may stand)."""
    if not outcomes:
        return None
    outcome = max(outcomes, key=lambda o: (o.attempt, o.failure is None))
    error, reason = outcome.failure or (None, None)
    return {
        "kind": "cutout" if outcome.failure is None else "failure record",
        "keys": list(outcome.keys),
        "bucket": stack.output_bucket,
        "attempt": outcome.attempt,
        "of_this_upload": outcome.is_of(source) if source.revision else None,
        "error": error,
        "reason": reason,
    }


def iso(value: float | datetime) -> str:
    """An instant (epoch seconds or datetime) as UTC ISO-8601 to the second: ``2026-11-30T23:10:02Z``."""
    instant = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return instant.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def status_lines(status: dict[str, Any]) -> list[str]:
    """The status for a person, one fact per line."""
    version = f"  (version {status['version_id']})" if status["version_id"] else ""
    lines = [f"{status['key']}{version}: {status['stage']}"]
    execution = status["execution"]
    if execution:
        lines.append(f"  execution   {execution['name']}  {execution['status']}, attempt {status['attempt']}")
        lines.append(f"  admitted    {status['admitted_at']}")
        slot = "waiting until" if status["stage"] == "waiting" else "slot at"
        lines.append(f"  {slot:<11} {status['slot_at']}")
    if status["submitted_at"]:
        lines.append(f"  submitted   {status['submitted_at']}  (task {status['task_id']})")
        last = f", last: {status['provider_status']}" if status["provider_status"] else ""
        lines.append(f"  polls       {status['polls']}{last}")
    outcome = status["outcome"]
    if outcome:
        whose = "" if outcome["of_this_upload"] is not False else "  (of another version of this key)"
        if outcome["kind"] == "cutout":
            lines.append(f"  outcome     ✓ {', '.join(outcome['keys'])}{whose}")
        else:
            lines.append(f"  outcome     ✗ {outcome['keys'][0]}{whose}")
            lines.append(f"  why         {outcome['error']}: {outcome['reason']}")
    elif not execution:
        lines.append("  no execution and no outcome yet: on the queue, or skipped (see the functions' log)")
    return lines
