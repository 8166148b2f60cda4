"""In-memory fakes of the AWS calls the shared package makes, for unit tests (no network, no moto):
they keep the semantics the code relies on (ranged reads, conditional writes, named error codes)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data


class FakeS3:
    """Objects by (bucket, key): put, head, get (with ``Range: bytes=a-b``), list by prefix."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **extra: Any) -> dict[str, Any]:
        self.objects[(Bucket, Key)] = {"Body": bytes(Body), **extra}
        return {"ETag": '"etag"'}

    def _get(self, bucket: str, key: str, operation: str) -> dict[str, Any]:
        try:
            return self.objects[(bucket, key)]
        except KeyError:
            raise client_error("404" if operation == "HeadObject" else "NoSuchKey", operation) from None

    def head_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        obj = self._get(Bucket, Key, "HeadObject")
        return {"ContentLength": len(obj["Body"]), "Metadata": obj.get("Metadata", {})}

    def get_object(self, *, Bucket: str, Key: str, Range: str | None = None, **_: Any) -> dict[str, Any]:
        data = self._get(Bucket, Key, "GetObject")["Body"]
        if Range:
            match = re.fullmatch(r"bytes=(\d+)-(\d+)", Range)
            assert match, Range
            data = data[int(match[1]) : int(match[2]) + 1]
        return {"Body": _Body(data), "ContentLength": len(data)}

    def list_objects_v2(
        self, *, Bucket: str, Prefix: str = "", MaxKeys: int = 1000, **_: Any
    ) -> dict[str, Any]:
        keys = sorted(k for b, k in self.objects if b == Bucket and k.startswith(Prefix))[:MaxKeys]
        return {"Contents": [{"Key": k} for k in keys]} if keys else {"KeyCount": 0}

    def upload_fileobj(
        self, stream: Any, bucket: str, key: str, ExtraArgs: dict[str, Any] | None = None, Config: Any = None
    ) -> None:
        """A managed upload: reads the stream in parts of the transfer config's chunk size until it ends."""
        part = Config.multipart_chunksize if Config else 8 * 1024 * 1024
        chunks = []
        while chunk := stream.read(part):
            chunks.append(chunk)
        self.objects[(bucket, key)] = {"Body": b"".join(chunks), **(ExtraArgs or {})}


class FakeStepFunctions:
    """start_execution that remembers executions by name and refuses a name twice, as AWS does."""

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}
        self.described: list[str] = []

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if name in self.executions:
            raise client_error("ExecutionAlreadyExists", "StartExecution")
        self.executions[name] = {"stateMachineArn": stateMachineArn, "input": input}
        return {"executionArn": f"{stateMachineArn}:{name}"}

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        self.described.append(executionArn)
        machine, _, name = executionArn.rpartition(":")
        if name not in self.executions or ":execution:" not in machine:
            raise client_error("ExecutionDoesNotExist", "DescribeExecution")
        return {"executionArn": executionArn, "status": "RUNNING"}


class FakeTable:
    """The DynamoDB calls of the submission schedule and the spend guard's daily count, with DynamoDB's
    semantics for the expressions they use: get_item, and update_item that either moves ``next_free`` on
    atomically (condition: within a range) or sets it (condition: absent or behind), or adds to a count
    (condition: below the cap, or above zero). ``writes`` counts the writes that took effect, ``requests``
    every update_item asked for (a failed conditional write is billed too)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.requests = 0
        self.reads: list[dict[str, Any]] = []

    def get_item(self, *, Key: dict[str, str], ConsistentRead: bool = False) -> dict[str, Any]:
        self.reads.append({"Key": Key, "ConsistentRead": ConsistentRead})
        item = self.items.get(Key["id"])
        return {"Item": dict(item)} if item else {}

    def update_item(
        self,
        *,
        Key: dict[str, str],
        UpdateExpression: str,
        ConditionExpression: str,
        ExpressionAttributeValues: dict[str, Any],
        ReturnValues: str = "NONE",
    ) -> dict[str, Any]:
        self.requests += 1
        values = ExpressionAttributeValues
        item = self.items.get(Key["id"], {})
        current = item.get("next_free")
        count = item.get("submitted")
        if ConditionExpression == "next_free BETWEEN :floor AND :limit":
            holds = current is not None and values[":floor"] <= current <= values[":limit"]
        elif ConditionExpression == "next_free >= :floor":
            holds = current is not None and current >= values[":floor"]
        elif ConditionExpression == "attribute_not_exists(next_free) OR next_free < :floor":
            holds = current is None or current < values[":floor"]
        elif ConditionExpression == "attribute_not_exists(submitted) OR submitted < :cap":
            holds = count is None or count < values[":cap"]
        elif ConditionExpression == "submitted > :zero":
            holds = count is not None and count > values[":zero"]
        else:
            raise AssertionError(f"unexpected condition {ConditionExpression!r}")
        if not holds:
            raise client_error("ConditionalCheckFailedException", "UpdateItem")
        if UpdateExpression == "SET next_free = next_free + :spacing":
            changed = {"next_free": Decimal(current + values[":spacing"])}
        elif UpdateExpression == "SET next_free = :next":
            changed = {"next_free": Decimal(values[":next"])}
        elif UpdateExpression == "ADD submitted :one SET expires_at = :expires":
            changed = {"submitted": Decimal((count or 0) + values[":one"]), "expires_at": values[":expires"]}
        elif UpdateExpression == "ADD submitted :minus_one":
            changed = {"submitted": Decimal(count + values[":minus_one"])}
        else:
            raise AssertionError(f"unexpected update {UpdateExpression!r}")
        self.writes += 1
        self.items[Key["id"]] = {**item, "id": Key["id"], **changed}
        return {"Attributes": changed} if ReturnValues == "UPDATED_NEW" else {}


class Clock:
    """A settable clock: ``clock()`` is the time, ``clock.advance(s)`` moves it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
