"""What the local stack's commands print for people: one line per outcome (``make demo``, ``make up``),
and one line for what ends them early (Ctrl-C, a port already taken) instead of a traceback."""

from __future__ import annotations

import errno
import json
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

#: Exit status after Ctrl-C: 128 + SIGINT, as a shell reports a command ended by it.
INTERRUPTED = 130
#: The input prefix of the local stack (the template's default), left out of the names printed.
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


class PortInUseError(Exception):
    """A port the local stack was asked to listen on is taken."""

    def __init__(self, port: int, option: str) -> None:
        super().__init__(port, option)
        self.port, self.option = port, option

    def __str__(self) -> str:
        return (
            f"port {self.port} is already in use (another `make up`?): stop what listens there, "
            f"or choose another port with {self.option}"
        )


def check_ports_free(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    """Raise :class:`PortInUseError` for the first port of ``ports`` (option → port; 0 = any free port)
    that cannot be bound on ``host``: checked before anything starts, so the error names the option."""
    for option, port in ports.items():
        if port == 0:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise PortInUseError(port, option) from error
                raise


def ending(error: BaseException) -> tuple[str, int] | None:
    """The one line (and the exit status) for what ended a command early, or None for an error that is
    not a person's to act on (a bug: its traceback is worth more)."""
    if isinstance(error, KeyboardInterrupt):
        line = "✗ Stopped by Ctrl-C: the local stack is down and kept nothing (the emulator lives in memory)."
        return line, INTERRUPTED
    if isinstance(error, PortInUseError):
        return f"✗ Cannot start the local stack: {error}.", 1
    return None


@dataclass
class FunctionLog:
    """The functions' log lines (JSON, as CloudWatch Logs gets them) appended to a file instead of the
    console: each :meth:`write` adds those of the invocations that ended since the last one."""

    path: Path
    written: int = 0

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    def write(self, invocations: list[Any]) -> None:
        new = invocations[self.written :]
        if new:
            with self.path.open("a") as f:
                f.writelines(invocation.logs for invocation in new)
            self.written += len(new)


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
