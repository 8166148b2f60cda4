"""A subscriber to Cutout's completion events, made the way the README shows it: an SQS queue that
EventBridge may send to, and a rule on the bus matching source "cutout" with the queue as its target; and
the events the queue received, each checked against the written schema (events/schema/)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema

from cutout_cli.watching import read_events, subscribe
from tests.support.events import EVENTS


@cache
def schema_validator() -> jsonschema.Draft202012Validator:
    """events/schema/cutout-event.schema.json, formats (date-time) checked."""
    schema = json.loads((EVENTS / "schema" / "cutout-event.schema.json").read_text())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@dataclass
class Subscription:
    sqs: Any
    queue_url: str

    @classmethod
    def create(cls, events: Any, sqs: Any, bus: str = "default", name: str = "cutout-events") -> Subscription:
        """The queue (with the policy that lets the rule send to it) and the rule on ``bus``: made as the
        README shows and `cutout watch` does (``cutout_cli.watching.subscribe``)."""
        url = subscribe(events, sqs, name, bus)
        return cls(sqs, url)

    def received(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The next ``count`` events on the queue (each valid by the schema), in the order received; fails
        when fewer came within ``timeout`` seconds."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} events received: {found}"
            for event in read_events(self.sqs, self.queue_url):
                schema_validator().validate(event)
                found.append(event)
        return found

    def nothing_more(self) -> bool:
        """Whether the queue is empty (no event beyond those received)."""
        return not self.sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=1).get("Messages")
