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
    """Objects by (bucket, key): put, head, get (with ``Range: bytes=a-b``)."""

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

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if name in self.executions:
            raise client_error("ExecutionAlreadyExists", "StartExecution")
        self.executions[name] = {"stateMachineArn": stateMachineArn, "input": input}
        return {"executionArn": f"{stateMachineArn}:{name}"}


class FakeTable:
    """The two DynamoDB calls of the submission schedule, with its compare-and-set semantics: get_item,
    and update_item with ``attribute_not_exists(next_free)`` or ``next_free = :known``."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.writes = 0

    def get_item(self, *, Key: dict[str, str], ConsistentRead: bool = False) -> dict[str, Any]:
        item = self.items.get(Key["id"])
        return {"Item": dict(item)} if item else {}

    def update_item(
        self,
        *,
        Key: dict[str, str],
        UpdateExpression: str,
        ConditionExpression: str,
        ExpressionAttributeValues: dict[str, Any],
    ) -> dict[str, Any]:
        assert UpdateExpression == "SET next_free = :next"
        current = self.items.get(Key["id"], {}).get("next_free")
        if ConditionExpression == "attribute_not_exists(next_free)":
            holds = current is None
        else:
            assert ConditionExpression == "next_free = :known", ConditionExpression
            holds = current == ExpressionAttributeValues[":known"]
        if not holds:
            raise client_error("ConditionalCheckFailedException", "UpdateItem")
        self.writes += 1
        self.items[Key["id"]] = {"id": Key["id"], "next_free": Decimal(ExpressionAttributeValues[":next"])}
        return {}


class Clock:
    """A settable clock: ``clock()`` is the time, ``clock.advance(s)`` moves it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
