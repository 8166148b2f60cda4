"""Move the messages in Cutout's dead-letter queue back to the ingest queue, once the cause is fixed.

    python tools/redrive.py --stack cutout            # queues found from the stack's outputs
    python tools/redrive.py --dlq URL --queue URL     # or named directly

Works against AWS and the local stack (set AWS_ENDPOINT_URL). On AWS, `aws sqs start-message-move-task`
does the same server-side; this command also runs where that API does not exist (the emulator), and
prints what it moved. Each message is sent to the ingest queue before it is deleted from the DLQ, so a
failure half-way duplicates at most one message (the pipeline is idempotent), never loses one.

A malformed message (SubmitFunction sets it aside here at once, with a ``cutout-reason`` attribute) comes
back as soon as it is moved unless the code that reads it changed; a body that comes back during the same
run is left in the DLQ, so a run always ends."""

from __future__ import annotations

import argparse
from typing import Any

import boto3


def queues_of_stack(stack: str) -> tuple[str, str]:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    return values["IngestDeadLetterQueueUrl"], values["IngestQueueUrl"]


def redrive(dlq_url: str, queue_url: str, sqs: Any = None, limit: int | None = None) -> int:
    """Move up to ``limit`` messages (all when None); returns how many were moved."""
    sqs = sqs or boto3.client("sqs")
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", help="stack name (queues from its outputs)")
    parser.add_argument("--dlq", help="dead-letter queue URL")
    parser.add_argument("--queue", help="ingest queue URL")
    parser.add_argument("--limit", type=int, help="move at most this many messages")
    args = parser.parse_args()
    if args.stack:
        dlq, queue = queues_of_stack(args.stack)
    elif args.dlq and args.queue:
        dlq, queue = args.dlq, args.queue
    else:
        parser.error("give --stack, or both --dlq and --queue")
    print(f"moved {redrive(dlq, queue, limit=args.limit)} messages from {dlq} to {queue}")


if __name__ == "__main__":
    main()
