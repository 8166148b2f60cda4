"""Deletions in a versioned bucket notify as S3 does, for the local stack. moto 5.2.5 sends no event for a
delete marker and, for a version deleted by its id, one only when it was the key's last version, naming
no version id. S3 sends ``ObjectRemoved:DeleteMarkerCreated`` (``versionId``: the marker's) and
``ObjectRemoved:Delete`` (``versionId``: the deleted version's) every time
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-event-types-and-destinations.html).
These carry the ETag of a deleted version. An unversioned bucket's delete is left to moto, which already
notifies it.

Every record also carries a ``sequencer``, as S3's do: moto's have none, so the order of two uploads of
one key could not be told apart, and the pipeline's "newest upload's outcome stands" would go untested.
S3 documents it as a hex string that grows with each event for a key, compared after left-padding
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html); here it is
the emulator's clock in nanoseconds, strictly increasing across every key, which is one such order."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus

_last = 0
_lock = threading.Lock()


def next_sequencer() -> str:
    """A hex sequencer greater than every one given before (16 digits, as S3's usually are)."""
    global _last
    with _lock:
        _last = max(_last + 1, time.time_ns())
        return f"{_last:016X}"


def object_event(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``notifications._get_s3_event``: each record gets a ``sequencer`` (and its ``versionId`` in a
    versioned bucket), as S3's do; moto's have neither."""

    def event(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        body = original(event_name, bucket, key, notification_id)
        for record in body.get("Records", []):
            obj = record["s3"]["object"]
            obj["sequencer"] = next_sequencer()
            version = getattr(key, "version_id", None)
            if getattr(bucket, "is_versioned", False) and version and str(version) != "null":
                obj["versionId"] = str(version)
        return body

    return event


def delete_object(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``S3Backend.delete_object``: moto's own removal events are held back while it runs (the
    emulator serves one call at a time), and S3's are sent to the bucket's queue configurations."""

    def delete(
        self: Any, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
    ) -> Any:
        bucket = self.get_bucket(bucket_name)
        if not bucket.is_versioned:
            return original(self, bucket_name, key_name, version_id, bypass)
        version = next(
            (
                k
                for k in bucket.keys.getlist(key_name, [])
                if version_id and str(k.version_id) == str(version_id)
            ),
            None,
        )
        with _removals_held_back():
            deleted, meta = original(self, bucket_name, key_name, version_id, bypass)
        if deleted and version_id is None:
            _notify(
                self.account_id,
                bucket,
                key_name,
                "ObjectRemoved:DeleteMarkerCreated",
                meta["version-id"],
                None,
            )
        elif deleted and version is not None:
            etag = getattr(version, "etag", None)  # a delete marker deleted by its id has none
            _notify(self.account_id, bucket, key_name, "ObjectRemoved:Delete", version_id, etag)
        return deleted, meta

    return delete


@contextmanager
def _removals_held_back() -> Iterator[None]:
    from moto.s3 import notifications

    send_event = notifications.send_event

    def without_removals(
        account_id: str, event_name: notifications.S3NotificationEvent, bucket: Any, key: Any
    ) -> None:
        # a (str, Enum): str() of it is "S3NotificationEvent.OBJECT_REMOVED_...", its value the name S3 uses
        if not event_name.value.startswith("s3:ObjectRemoved:"):
            send_event(account_id, event_name, bucket, key)

    notifications.send_event = without_removals
    try:
        yield
    finally:
        notifications.send_event = send_event


def _notify(
    account_id: str, bucket: Any, key_name: str, event_name: str, version_id: str | None, etag: str | None
) -> None:
    from moto.core.utils import iso_8601_datetime_with_milliseconds
    from moto.sqs.models import sqs_backends

    if bucket.notification_configuration is None:
        return
    obj: dict[str, Any] = {
        "key": quote_plus(key_name),
        "versionId": version_id,
        "sequencer": next_sequencer(),
    }
    if etag:
        obj["eTag"] = etag.strip('"')
    for target in bucket.notification_configuration.queue:
        if not target.matches(f"s3:{event_name}", key_name):
            continue
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": bucket.region_name,
            "eventTime": iso_8601_datetime_with_milliseconds(),
            "eventName": event_name,
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": target.id,
                "bucket": {"name": bucket.name, "arn": bucket.arn},
                "object": obj,
            },
        }
        region, queue = target.arn.split(":")[3], target.arn.split(":")[-1]
        sqs_backends[account_id][region].send_message(
            queue_name=queue, message_body=json.dumps({"Records": [record]})
        )
