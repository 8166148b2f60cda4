"""What the output bucket holds for one key: its cutout or its failure record, each saying which upload
(and which attempt: 0 for the upload's own notification, n for the n-th reprocess request) it is the
outcome of. WriteResult, RecordFailure and the reprocess command read them here, so that the newest
outcome replaces the old one and the next reprocess request gets the next attempt number.

Ordering between different uploads of one key is kept as it was (S3 sequencers, compared only when both
outcomes have one); issue 11 reworks it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from cutout.keys import Layout, failure_key, key_digest, output_key, sequencer_after
from cutout.observability import logger
from cutout.state import SourceObject

_MISSING = frozenset({"404", "NoSuchKey"})


@dataclass(frozen=True)
class Outcome:
    """One outcome in the output bucket: where it is, the upload it is of, and its attempt."""

    key: str
    bucket: str
    source_key: str
    revisions: frozenset[str]  # the upload's version id and/or ETag, as far as the outcome records them
    sequencer: str | None
    attempt: int

    def is_of(self, source: SourceObject) -> bool:
        """Whether this is an outcome of the same upload: same bucket and key, and a version id or ETag in
        common (an upload named from its ETag and a reprocess pinned to its version id are one upload)."""
        names_key = self.source_key in (source.key, key_digest(source.key))
        same_object = self.bucket == source.bucket and names_key
        return same_object and bool(self.revisions & {source.version_id, source.etag} - {None})

    def is_older_upload_than(self, source: SourceObject) -> bool:
        """Whether S3's sequencers say this outcome's upload came before ``source``'s."""
        return sequencer_after(source.sequencer, self.sequencer)


def cutout_outcome(s3: Any, settings: Layout, key: str) -> Outcome | None:
    """The cutout of upload ``key``, from its user metadata; None when there is none."""
    location = output_key(key, settings)
    head = _read(s3.head_object, Bucket=settings.output_bucket, Key=location)
    if head is None:
        return None
    metadata = head.get("Metadata", {})
    return Outcome(
        key=location,
        bucket=metadata.get("source-bucket", ""),
        # a key too long for S3's metadata limit is stored as its digest (cutout.results)
        source_key=unquote(metadata["source-key"])
        if "source-key" in metadata
        else metadata.get("source-key-sha256", ""),
        revisions=frozenset(filter(None, (metadata.get("source-version"), metadata.get("source-etag")))),
        sequencer=metadata.get("source-sequencer"),
        attempt=int(metadata.get("attempt", 0)),
    )


def failure_outcome(s3: Any, settings: Layout, key: str) -> Outcome | None:
    """The failure record of upload ``key``; None when there is none."""
    location = failure_key(key, settings)
    response = _read(s3.get_object, Bucket=settings.output_bucket, Key=location)
    if response is None:
        return None
    record = json.loads(response["Body"].read())
    source = SourceObject.from_dict(record["source"])
    return Outcome(
        key=location,
        bucket=source.bucket,
        source_key=source.key,
        revisions=frozenset(filter(None, (source.version_id, source.etag))),
        sequencer=source.sequencer,
        attempt=int(record.get("attempt", 0)),
    )


def remove_replaced_failure_record(s3: Any, settings: Layout, source: SourceObject, attempt: int) -> None:
    """After a cutout is written: the key's failure record goes if it is of the same upload and not of a
    later request (attempt), or of an older upload (by S3 sequencer)."""
    record = failure_outcome(s3, settings, source.key)
    if record is None:
        return
    if (record.is_of(source) and record.attempt <= attempt) or record.is_older_upload_than(source):
        _delete(s3, settings, record, "failure record replaced by the cutout")


def remove_replaced_cutout(s3: Any, settings: Layout, source: SourceObject, attempt: int) -> None:
    """After a reprocess request (attempt >= 1) ended in a failure record: the cutout of the same upload
    from an earlier request goes, so the key keeps one outcome, the newest request's. The upload's own
    notification (attempt 0) never removes a cutout."""
    if attempt < 1:
        return
    cutout = cutout_outcome(s3, settings, source.key)
    if cutout is not None and cutout.is_of(source) and cutout.attempt < attempt:
        _delete(s3, settings, cutout, "cutout replaced by the failure record")


def _delete(s3: Any, settings: Layout, outcome: Outcome, message: str) -> None:
    s3.delete_object(Bucket=settings.output_bucket, Key=outcome.key)
    logger.info(message, extra={"replaced_key": outcome.key, "replaced_attempt": outcome.attempt})


def _read(operation: Any, **kwargs: str) -> Any:
    try:
        return operation(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise
