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

from tests.support.events import EVENTS

PATTERN = {"source": ["cutout"]}


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
        """The queue (with the policy that lets the rule send to it) and the rule on ``bus``."""
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        rule_arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(PATTERN))["RuleArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
        return cls(sqs, url)

    def received(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The next ``count`` events on the queue (each valid by the schema), in the order received; fails
        when fewer came within ``timeout`` seconds."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} events received: {found}"
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in answer.get("Messages", []):
                event = json.loads(message["Body"])
                schema_validator().validate(event)
                found.append(event)
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def nothing_more(self) -> bool:
        """Whether the queue is empty (no event beyond those received)."""
        return not self.sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=1).get("Messages")
