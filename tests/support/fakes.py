"""In-memory fakes of the AWS calls the shared package makes, for unit tests (no network, no moto):
they keep the semantics the code relies on (ranged reads, conditional writes, named error codes)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from cutout.durations import Histogram, explores
from cutout.health import ProviderHealth


def _etag(body: bytes) -> str:
    return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data


class FakeS3:
    """Objects by (bucket, key): put, head, get (with ``Range: bytes=a-b``: ``ContentRange``, 416
    InvalidRange past the end; and ``IfMatch``: 412
    PreconditionFailed when the ETag differs), delete, list by prefix. ETags are the MD5 of the body, as
    S3's are for a single-part upload."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes,
        IfMatch: str | None = None,
        IfNoneMatch: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """With S3's conditional writes: ``IfNoneMatch="*"`` only if the key is free, ``IfMatch`` only over
        that ETag (412 PreconditionFailed, or 404 NoSuchKey when there is nothing to match)."""
        existing = self.objects.get((Bucket, Key))
        if IfNoneMatch == "*" and existing is not None:
            raise client_error("PreconditionFailed", "PutObject")
        if IfMatch is not None:
            if existing is None:
                raise client_error("NoSuchKey", "PutObject")
            if IfMatch.strip('"') != _etag(existing["Body"]).strip('"'):
                raise client_error("PreconditionFailed", "PutObject")
        self.objects[(Bucket, Key)] = {"Body": bytes(Body), "LastModified": datetime.now(UTC), **extra}
        return {"ETag": _etag(Body)}

    def _get(self, bucket: str, key: str, operation: str, if_match: str | None = None) -> dict[str, Any]:
        try:
            obj = self.objects[(bucket, key)]
        except KeyError:
            raise client_error("404" if operation == "HeadObject" else "NoSuchKey", operation) from None
        if if_match is not None and if_match.strip('"') != _etag(obj["Body"]).strip('"'):
            raise client_error("PreconditionFailed", operation)  # S3: 412, the ETag differs
        return obj

    def head_object(self, *, Bucket: str, Key: str, IfMatch: str | None = None, **_: Any) -> dict[str, Any]:
        obj = self._get(Bucket, Key, "HeadObject", IfMatch)
        return {
            "ContentLength": len(obj["Body"]),
            "ETag": _etag(obj["Body"]),
            "Metadata": obj.get("Metadata", {}),
            "LastModified": obj["LastModified"],
        }

    def get_object(
        self, *, Bucket: str, Key: str, Range: str | None = None, IfMatch: str | None = None, **_: Any
    ) -> dict[str, Any]:
        obj = self._get(Bucket, Key, "GetObject", IfMatch)
        data = whole = obj["Body"]
        answer: dict[str, Any] = {}
        if Range:
            match = re.fullmatch(r"bytes=(\d+)-(\d+)", Range)
            assert match, Range
            if int(match[1]) >= len(whole):
                raise client_error("InvalidRange", "GetObject")  # S3: 416, as to any range of an empty object
            data = whole[int(match[1]) : int(match[2]) + 1]
            answer["ContentRange"] = f"bytes {match[1]}-{int(match[1]) + len(data) - 1}/{len(whole)}"
        return {
            **answer,
            "Body": _Body(data),
            "ContentLength": len(data),
            "ETag": _etag(whole),
            "Metadata": obj.get("Metadata", {}),
        }

    def delete_object(self, *, Bucket: str, Key: str, IfMatch: str | None = None) -> dict[str, Any]:
        """With S3's conditional delete: ``IfMatch`` deletes only that ETag (412, or 404 when missing)."""
        if IfMatch is not None:
            self._get(Bucket, Key, "DeleteObject", IfMatch)
        self.objects.pop((Bucket, Key), None)
        return {}

    def list_objects_v2(
        self, *, Bucket: str, Prefix: str = "", MaxKeys: int = 1000, Delimiter: str = "", **_: Any
    ) -> dict[str, Any]:
        """One page, its keys with their ETags; with a ``Delimiter``, keys that hold it past the prefix
        are left out (S3 rolls them up into ``CommonPrefixes``, not given here)."""
        keys = sorted(
            k
            for b, k in self.objects
            if b == Bucket and k.startswith(Prefix) and not (Delimiter and Delimiter in k[len(Prefix) :])
        )
        page = [{"Key": k, "ETag": _etag(self.objects[(Bucket, k)]["Body"])} for k in keys[:MaxKeys]]
        return {"Contents": page, "IsTruncated": len(keys) > MaxKeys} if page else {"KeyCount": 0}

    def upload_fileobj(
        self, stream: Any, bucket: str, key: str, ExtraArgs: dict[str, Any] | None = None, Config: Any = None
    ) -> None:
        """A managed upload: reads the stream in parts of the transfer config's chunk size until it ends."""
        part = Config.multipart_chunksize if Config else 8 * 1024 * 1024
        chunks = []
        while chunk := stream.read(part):
            chunks.append(chunk)
        self.objects[(bucket, key)] = {
            "Body": b"".join(chunks),
            "LastModified": datetime.now(UTC),
            **(ExtraArgs or {}),
        }


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
    (condition: below the cap, or above zero); and the provider's health (``cutout.health``: plain SETs
    and REMOVEs under conditions on ``down_since`` and ``probe_at``). ``writes`` counts the writes that
    took effect, ``requests`` every update_item asked for (a failed conditional write is billed too)."""

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
        ReturnValuesOnConditionCheckFailure: str = "NONE",
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
        elif ConditionExpression == "attribute_not_exists(down_since)":
            holds = "down_since" not in item
        elif ConditionExpression == "down_since = :since":
            holds = item.get("down_since") == values[":since"]
        elif ConditionExpression == "down_since = :since AND probe_at = :due":
            holds = item.get("down_since") == values[":since"] and item.get("probe_at") == values[":due"]
        else:
            raise AssertionError(f"unexpected condition {ConditionExpression!r}")
        if not holds:
            refused = client_error("ConditionalCheckFailedException", "UpdateItem")
            if ReturnValuesOnConditionCheckFailure == "ALL_OLD" and item:
                refused.response["Item"] = dict(item)  # as StateTable hands it on: plain values
            raise refused
        if UpdateExpression == "SET next_free = next_free + :spacing":
            changed = {"next_free": Decimal(current + values[":spacing"])}
        elif UpdateExpression == "SET next_free = :next":
            changed = {"next_free": Decimal(values[":next"])}
        elif UpdateExpression == "ADD submitted :one SET expires_at = :expires":
            changed = {"submitted": Decimal((count or 0) + values[":one"]), "expires_at": values[":expires"]}
        elif UpdateExpression == "ADD submitted :minus_one":
            changed = {"submitted": Decimal(count + values[":minus_one"])}
        elif UpdateExpression.startswith("SET ") and all(
            assignment.split(" = ")[1].startswith(":") for assignment in UpdateExpression[4:].split(", ")
        ):  # the provider's health: plain assignments of values
            pairs = (assignment.split(" = ") for assignment in UpdateExpression[4:].split(", "))
            changed = {name: values[value] for name, value in pairs}
        elif UpdateExpression.startswith("REMOVE "):
            self.writes += 1
            removed = UpdateExpression[7:].split(", ")
            self.items[Key["id"]] = {k: v for k, v in item.items() if k not in removed}
            return {}
        else:
            raise AssertionError(f"unexpected update {UpdateExpression!r}")
        self.writes += 1
        self.items[Key["id"]] = {**item, "id": Key["id"], **changed}
        return {"Attributes": changed} if ReturnValues == "UPDATED_NEW" else {}


def provider_health(
    part: str, settings: Any, table: FakeTable | None = None, clock: Clock | None = None
) -> ProviderHealth:
    """``cutout.health`` for ``part`` on a FakeTable (a fresh one: healthy), with the settings' bounds."""
    return ProviderHealth(
        table if table is not None else FakeTable(),
        part,
        max_outage_seconds=settings.max_provider_outage_seconds,
        max_probe_seconds=settings.provider_probe_max_seconds,
        clock=clock or Clock(),
    )


class Clock:
    """A settable clock: ``clock()`` is the time, ``clock.advance(s)`` moves it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeEventBridge:
    """PutEvents that keeps every entry it takes. ``answers`` scripts the next calls, one each: an
    exception to raise, or the ErrorCode every entry of that call is refused with (FailedEntryCount > 0,
    as EventBridge answers a partial failure); once they are used up, every entry is taken."""

    def __init__(self, *answers: Exception | str) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.entries: list[dict[str, Any]] = []

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        results: list[dict[str, str]] = []
        for entry in Entries:
            if answer is None:
                self.entries.append(entry)
                results.append({"EventId": f"e1b2c3d4-0000-4000-8000-{len(self.entries):012d}"})
            else:
                results.append({"ErrorCode": answer, "ErrorMessage": f"{answer} (scripted)"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}

    def events(self) -> list[dict[str, Any]]:
        """Each event taken as a rule's target receives it: detail-type, source, time and detail."""
        return [
            {
                "detail-type": entry["DetailType"],
                "source": entry["Source"],
                "time": entry["Time"],
                "event-bus": entry["EventBusName"],
                "detail": json.loads(entry["Detail"]),
            }
            for entry in self.entries
        ]


NOT_AN_EXPLORER = next(f"task-{i}" for i in range(100) if not explores(f"task-{i}"))
AN_EXPLORER = next(f"task-{i}" for i in range(100) if explores(f"task-{i}"))


class Learnt:
    """``cutout.durations.TaskDurations`` with durations already recorded (``recent``), keeping what is
    recorded since apart (``recorded``)."""

    def __init__(self, seconds: list[float], *, exact: bool = False) -> None:
        self.histogram = Histogram()
        for s in seconds:
            self.histogram = self.histogram.plus(s, exact=exact)
        self.recorded: list[float] = []

    def record(self, seconds: float, *, exact: bool) -> None:
        self.recorded.append((seconds, exact))

    def recent(self) -> Histogram:
        return self.histogram
