"""The dead-letter queue's redrive: its messages back to the ingest queue, once the cause is fixed.

It works where ``sqs:StartMessageMoveTask`` does not (the emulator), and says what it moved. Each message
is sent to the ingest queue before it is deleted from the DLQ, so a failure half-way duplicates at most
one message (admission is idempotent), never loses one. A malformed message (SubmitFunction sets it aside
at once, with a ``cutout-reason`` attribute) comes back as soon as it is moved unless the code that reads
it changed: a body that comes back during the same run is left in the DLQ, so a run always ends."""

from __future__ import annotations

from typing import Any


def redrive(sqs: Any, dlq_url: str, queue_url: str, limit: int | None = None) -> int:
    """Move up to ``limit`` messages (all when None); returns how many were moved."""
    moved = 0
    bodies: set[str] = set()
    while limit is None or moved < limit:
        batch = min(10, limit - moved) if limit is not None else 10
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=batch, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            break
        for message in messages:
            if message["Body"] in bodies:  # set aside again since this run moved it: left for a later look
                continue
            bodies.add(message["Body"])
            sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved
