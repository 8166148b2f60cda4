"""What the output bucket holds for one key: its cutout or its failure record, each saying which upload
(and which attempt: 0 for the upload's own notification, n for the n-th reprocess request) it is the
outcome of. One outcome per key, the newest's: every writer (WriteResult, RecordFailure, admission,
ExecutionEndedFunction) asks here before it writes whether a newer one stands (then it writes nothing),
and settles after it wrote (the other kind of outcome goes if it is older; its own if the other is newer).

Which is newer (:func:`rank`): of two uploads of a key, the one S3's sequencer puts later; of two
requests of one upload, the later attempt; of the same request, the cutout (a success stands). When the
order is unknown (an outcome without a sequencer: a reprocess request of an unversioned upload, or one
written before sequencers were kept), the one being written wins, as the latest word."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from cutout.keys import (
    CUTOUT_EXTENSIONS,
    Layout,
    failure_key,
    key_digest,
    output_key,
    sequencer_after,
    variant_key,
)
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
    etag: str | None = None  # the stored object's own ETag: a conditional write replaces only this one
    variant_keys: tuple[str, ...] = ()  # a cutout's other outputs: its variants but the first
    failure: tuple[str, str] | None = None  # a failure record's error and reason

    @classmethod
    def written(
        cls,
        key: str,
        source: SourceObject,
        attempt: int,
        etag: str | None,
        variant_keys: tuple[str, ...] = (),
    ) -> Outcome:
        """The cutout of request ``attempt`` of ``source`` as its writer knows it: at ``key``, stored
        with ``etag``, listing ``variant_keys`` (what :func:`cutout_at` would read back from it)."""
        return cls(
            key=key,
            bucket=source.bucket,
            source_key=source.key,
            revisions=frozenset(filter(None, (source.version_id, source.etag))),
            sequencer=source.sequencer,
            attempt=attempt,
            etag=etag,
            variant_keys=variant_keys,
        )

    @property
    def keys(self) -> tuple[str, ...]:
        """Every output of this outcome."""
        return (self.key, *self.variant_keys)

    def is_of(self, source: SourceObject) -> bool:
        """Whether this is an outcome of the same upload: same bucket and key, and a version id or ETag in
        common (an upload named from its ETag and a reprocess pinned to its version id are one upload)."""
        names_key = self.source_key in (source.key, key_digest(source.key))
        same_object = self.bucket == source.bucket and names_key
        return same_object and bool(self.revisions & {source.version_id, source.etag} - {None})

    def is_older_upload_than(self, source: SourceObject) -> bool:
        """Whether S3's sequencers say this outcome's upload came before ``source``'s."""
        return sequencer_after(source.sequencer, self.sequencer)


VARIANTS_METADATA = "variants"  # on a cutout: its other variants, "<name><extension>" separated by spaces


def variants_metadata(outputs: list[tuple[str, str]]) -> str:
    """``outputs`` ((variant name, extension) of each variant but the first) as the cutout records them."""
    return " ".join(f"{name}{extension}" for name, extension in outputs)


def cutout_outcomes(s3: Any, settings: Layout, key: str, known: Outcome | None = None) -> list[Outcome]:
    """The cutouts of upload ``key``, one per extension a cutout may have (``CUTOUT_EXTENSIONS``): none,
    one, or for a moment two, while a cutout in a new format replaces one in another. One listing finds
    which of those keys exist, and only those are read (HEAD: whose outcome each is); ``known``, an outcome
    its writer just wrote, is not read again while the listing shows its ETag."""
    locations = [output_key(key, settings, ext) for ext in CUTOUT_EXTENSIONS]
    listed = _listed(s3, settings, locations)
    found: list[Outcome | None] = []
    for location in locations if listed is None else [each for each in locations if each in listed]:
        etag = listed.get(location) if listed else None
        if known is not None and known.key == location and etag is not None and etag == known.etag:
            found.append(known)
        else:
            found.append(cutout_at(s3, settings, key, location))
    return [outcome for outcome in found if outcome is not None]


def _listed(s3: Any, settings: Layout, locations: list[str]) -> dict[str, str | None] | None:
    """Which of ``locations`` exist, with their ETags, from one listing of the name they share up to the
    extension; None when one listing cannot tell (they share no such name: a key too long for some of
    them, ``cutout.keys``; or more keys share it than a page holds)."""
    stems = {location.rpartition(".")[0] for location in locations}
    if len(stems) != 1:
        return None
    # the delimiter leaves out keys in "folders" that share the name's start (``a.b/c.png`` for ``a.``)
    listed = s3.list_objects_v2(Bucket=settings.output_bucket, Prefix=f"{stems.pop()}.", Delimiter="/")
    if listed.get("IsTruncated"):
        return None
    return {item["Key"]: item.get("ETag") for item in listed.get("Contents", []) if item["Key"] in locations}


def cutout_outcome(s3: Any, settings: Layout, key: str) -> Outcome | None:
    """The cutout of upload ``key`` in whichever format it is; None when there is none."""
    return next(iter(cutout_outcomes(s3, settings, key)), None)


def cutout_at(s3: Any, settings: Layout, key: str, location: str) -> Outcome | None:
    """The cutout of upload ``key`` at ``location``, from its user metadata; None when there is none."""
    head = _read(s3.head_object, Bucket=settings.output_bucket, Key=location)
    if head is None:
        return None
    metadata = head.get("Metadata", {})
    variants = []
    for entry in metadata.get(VARIANTS_METADATA, "").split():
        name, dot, extension = entry.partition(".")
        variants.append(variant_key(key, settings, name, f"{dot}{extension}"))
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
        etag=head.get("ETag"),
        variant_keys=tuple(variants),
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
        etag=response.get("ETag"),
        failure=(str(record.get("error")), str(record.get("reason"))),
    )


NEWER, SAME, OLDER = 1, 0, -1
WRITE_ATTEMPTS = 3  # conditional writes lost to other writers in a row before giving up (retryable)


def rank(outcome: Outcome, source: SourceObject, attempt: int) -> int:
    """Where ``outcome`` stands against request ``attempt`` of ``source``, about to write its own:
    NEWER (it must stand), SAME (the same request), OLDER (it is replaced)."""
    if outcome.is_of(source):
        return NEWER if outcome.attempt > attempt else SAME if outcome.attempt == attempt else OLDER
    if sequencer_after(outcome.sequencer, source.sequencer):
        return NEWER
    return OLDER  # an older upload, or the order unknown: the latest word wins


def newer_outcome(
    outcomes: list[Outcome], source: SourceObject, attempt: int, *, failure: bool
) -> Outcome | None:
    """Among ``outcomes`` (the key's, as read: :func:`all_outcomes`), one that the outcome about to be
    written must not replace: a newer upload's or a later request's, of either kind; and, for a failure
    record, a cutout of the same request."""
    for outcome in outcomes:
        standing = rank(outcome, source, attempt)
        is_cutout = outcome.failure is None
        if standing == NEWER or (failure and is_cutout and standing == SAME):
            return outcome
    return None


def all_outcomes(s3: Any, settings: Layout, key: str, known: Outcome | None = None) -> list[Outcome]:
    """Every outcome the output bucket holds for upload ``key``: its cutouts, then its failure record
    (``known``: see :func:`cutout_outcomes`)."""
    record = failure_outcome(s3, settings, key)
    return [*cutout_outcomes(s3, settings, key, known), *([record] if record else [])]


def write_condition(existing: Outcome | None) -> dict[str, str]:
    """PutObject's condition that replaces exactly what was read: ``IfMatch`` its ETag, or, when there
    was nothing, ``IfNoneMatch: *``; S3 answers 412 if another writer came first, and the writer reads
    again (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html)."""
    if existing is None:
        return {"IfNoneMatch": "*"}
    return {"IfMatch": existing.etag} if existing.etag else {}


def lost_race(exc: ClientError) -> bool:
    """A conditional write refused because the object changed since it was read."""
    return exc.response.get("Error", {}).get("Code") in (
        "PreconditionFailed",
        "412",
        "ConditionalRequestConflict",
    )


def settle_after_cutout(
    s3: Any, settings: Layout, source: SourceObject, attempt: int, mine: Outcome | None = None
) -> bool:
    """After the cutout of ``source`` was written (``mine``, as its writer knows it; default: a PNG at its
    output key, read back): the key's other outcomes (its failure record, a cutout in another format) go
    unless one is newer; a newer one (written meanwhile by a newer upload's execution) makes this cutout
    go instead. Whether it stands."""
    written = mine.key if mine is not None else output_key(source.key, settings)
    outcomes = all_outcomes(s3, settings, source.key, mine)
    others = [outcome for outcome in outcomes if outcome.key != written]
    if any(rank(other, source, attempt) == NEWER for other in others):
        there = next((outcome for outcome in outcomes if outcome.key == written), None)
        if there is not None and rank(there, source, attempt) == SAME:
            _delete(s3, settings, there, "cutout withdrawn: a newer upload's outcome stands")
        return False
    for other in others:
        _delete(s3, settings, other, "outcome replaced by the cutout")
    return True


def settle_after_failure(s3: Any, settings: Layout, source: SourceObject, attempt: int) -> bool:
    """After the failure record of ``source`` was written: the key's cutouts go if they are older; a
    newer one, or the same request's, makes this record go instead. Whether the record stands."""
    standing = False
    for cutout in cutout_outcomes(s3, settings, source.key):
        if rank(cutout, source, attempt) == OLDER:
            _delete(s3, settings, cutout, "cutout replaced by the failure record")
        else:
            standing = True
    if not standing:
        return True
    mine = failure_outcome(s3, settings, source.key)
    if mine is not None and rank(mine, source, attempt) == SAME:
        _delete(s3, settings, mine, "failure record withdrawn: a newer outcome stands")
    return False


def delete_outcome(s3: Any, settings: Layout, outcome: Outcome) -> bool:
    """Delete exactly the outcome read (``IfMatch`` its ETag, a conditional delete S3 supports:
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html); False when another
    writer replaced or removed it meanwhile (that newer one is not touched: its writer settles the key)."""
    condition = {"IfMatch": outcome.etag} if outcome.etag else {}
    try:
        s3.delete_object(Bucket=settings.output_bucket, Key=outcome.key, **condition)
    except ClientError as exc:
        if not lost_race(exc):
            raise
        logger.info("not deleted: replaced since it was read", extra={"replaced_key": outcome.key})
        return False
    delete_variants(s3, settings, outcome)
    return True


def delete_variants(s3: Any, settings: Layout, outcome: Outcome, keep: frozenset[str] = frozenset()) -> None:
    """Delete the variants of cutout ``outcome`` (but those in ``keep``), each only while it is still
    that outcome's: a variant at the same key written since by a newer outcome stays."""
    for key in outcome.variant_keys:
        if key in keep:
            continue
        head = _read(s3.head_object, Bucket=settings.output_bucket, Key=key)
        if head is None:
            continue
        metadata = head.get("Metadata", {})
        revisions = {metadata.get("source-version"), metadata.get("source-etag")} - {None}
        if not (revisions & outcome.revisions) or int(metadata.get("attempt", 0)) != outcome.attempt:
            continue
        delete_output(s3, settings, key, head.get("ETag"))


def delete_output(s3: Any, settings: Layout, key: str, etag: str | None) -> None:
    """Delete output ``key`` if it is still the object whose ETag is ``etag`` (gone or replaced: left)."""
    try:
        s3.delete_object(Bucket=settings.output_bucket, Key=key, **({"IfMatch": etag} if etag else {}))
    except ClientError as exc:
        if not (lost_race(exc) or exc.response.get("Error", {}).get("Code") in _MISSING):
            raise


def _delete(s3: Any, settings: Layout, outcome: Outcome, message: str) -> None:
    if delete_outcome(s3, settings, outcome):
        logger.info(message, extra={"replaced_key": outcome.key, "replaced_attempt": outcome.attempt})


def _read(operation: Any, **kwargs: str) -> Any:
    try:
        return operation(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise
