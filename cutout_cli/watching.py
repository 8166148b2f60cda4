"""Live outcomes: a queue subscribed to the stack's completion events (``Cutout Created`` / ``Cutout
Failed``, README "Completion events"), made the way the README shows it, and one line per outcome for
people (``cutout watch``, ``make up``, ``make demo``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

#: The input prefix left out of the names printed (the template's default).
INPUT_PREFIX = "uploads/"


def outcome_line(
    name: str,
    targets: list[str],
    *,
    failed: bool,
    seconds: float | None = None,
    reason: str | None = None,
    progress: tuple[int, int] | None = None,
) -> str:
    """``  [2/7] ✓ photo.jpg → cutouts/photo.png  (2.1 s)``, or with ✗, the failure record and the
    reason: ``  ✗ notes.jpg → failures/uploads/notes.jpg.json  (0.4 s): UnsupportedInputError: …``."""
    count = f"[{progress[0]}/{progress[1]}] " if progress else ""
    line = f"  {count}{'✗' if failed else '✓'} {name} → {', '.join(targets)}"
    if seconds is not None:
        line += f"  ({seconds:.1f} s)"
    if reason:
        line += f": {reason}"
    return line


def event_line(event: dict[str, Any]) -> str:
    """The outcome line of a completion event (``Cutout Created`` / ``Cutout Failed``, README
    "Completion events"): the upload's key without the input prefix, what was written, the seconds from
    admission to the outcome (none for an upload refused at admission) and a failure's reason."""
    detail = event["detail"]
    timings = detail["timings"]
    seconds = None
    if timings.get("admitted_at"):
        seconds = (_instant(timings["finished_at"]) - _instant(timings["admitted_at"])).total_seconds()
    failure = detail.get("failure")
    return outcome_line(
        detail["source"]["key"].removeprefix(INPUT_PREFIX),
        [failure["record"]["key"]] if failure else [output["key"] for output in detail["outputs"]],
        failed=failure is not None,
        seconds=seconds,
        reason=f"{failure['error']}: {failure['reason']}" if failure else None,
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def plural(count: int, noun: str) -> str:
    """``1 failure record``, ``2 failure records``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def read_events(sqs: Any, queue_url: str, wait_seconds: int = 1) -> list[dict[str, Any]]:
    """The completion events waiting on a subscribed queue (at most 10), deleted as they are read."""
    events = []
    for message in sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
    ).get("Messages", []):
        events.append(json.loads(message["Body"]))
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return events


def subscribe(events: Any, sqs: Any, name: str, bus: str = "default") -> str:
    """A queue that receives every completion event of ``bus`` (the README's subscription: a rule on
    source ``cutout`` with the queue as its target, and the queue's policy letting that rule send); its
    URL."""
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = json.dumps({"source": ["cutout"]})
    rule_arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=pattern)["RuleArn"]
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return url


def unsubscribe(events: Any, sqs: Any, name: str, url: str, bus: str = "default") -> None:
    """Take away what :func:`subscribe` made: the rule's target, the rule, the queue."""
    events.remove_targets(Rule=name, EventBusName=bus, Ids=["queue"])
    events.delete_rule(Name=name, EventBusName=bus)
    sqs.delete_queue(QueueUrl=url)
