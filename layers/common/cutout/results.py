"""Stream the provider's cutout into the output bucket without holding the image in memory:
urllib3 ``preload_content=False`` read in chunks by boto3's managed (multipart) upload."""

from __future__ import annotations

import fnmatch
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import urllib3
from aws_lambda_powertools.metrics import MetricUnit
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from cutout.errors import OUTAGE_ERRORS, OutcomeConflictError, ResultDownloadError, ResultRejectedError
from cutout.health import Outage, ProviderHealth, Wait
from cutout.imaging import probe
from cutout.keys import key_digest, output_key, staging_key, variant_key
from cutout.novita import NovitaClient
from cutout.observability import logger, metrics
from cutout.options import Variant
from cutout.outcomes import (
    VARIANTS_METADATA,
    WRITE_ATTEMPTS,
    Outcome,
    all_outcomes,
    cutout_at,
    delete_output,
    delete_variants,
    lost_race,
    newer_outcome,
    settle_after_cutout,
    variants_metadata,
    write_condition,
)
from cutout.profiles import Readable, WithProfile, icc_profile
from cutout.settings import Settings
from cutout.sources import still_current
from cutout.state import OutputWritten, SourceObject, Written
from cutout.urls import is_loopback, redact

DOWNLOAD_TIMEOUT = urllib3.Timeout(connect=3.05, read=30.0)
# Two parts in flight and two read ahead: memory stays near 4 x 8 MiB whatever the image size
# (s3transfer's default read-ahead of 10 chunks alone would be 80 MiB).
TRANSFER = TransferConfig(multipart_threshold=8 * 1024**2, multipart_chunksize=8 * 1024**2, max_concurrency=2)
TRANSFER.max_in_memory_upload_chunks = 2
_SNIFF_BYTES = 32
SOURCE_HEAD_BYTES = 1024 * 1024  # enough for the colour profile of nearly every upload (cutout.intake)
# S3's limit on an object's user-defined metadata, names and values in UTF-8 bytes
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html)
USER_METADATA_LIMIT = 2048
_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_FORMAT_NAMES = {"png": "png", "jpeg": "jpg", "webp": "webp"}  # cutout.imaging's names -> the options'.
_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream")


def check_result_url(url: str, allowed_hosts: tuple[str, ...]) -> None:
    """Only https, only from an allowed host ("*.example.com" matches subdomains); plain http only for
    a loopback host that the allow-list names explicitly (the local stack)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or not any(fnmatch.fnmatchcase(host, pattern) for pattern in allowed_hosts):
        raise ResultRejectedError(f"result host {host!r} is not in RESULT_URL_ALLOWED_HOSTS")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise ResultRejectedError(f"result URL scheme {parts.scheme!r} refused: https only")


class CappedStream:
    """File-like view of a streamed response that refuses to yield more than ``cap`` bytes."""

    def __init__(self, response: urllib3.BaseHTTPResponse, head: bytes, cap: int) -> None:
        self._response = response
        self._head = head
        self._cap = cap
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes (all that is left when negative), fewer only at the end of the body: s3transfer
        takes a short read for the end of the object, and would then put it whole in one request."""
        head, self._head = self._head, b""
        if 0 <= size < len(head):
            head, self._head = head[:size], head[size:]
        wanted = -1 if size < 0 else size - len(head)
        try:
            rest = self._response.read(None if wanted < 0 else wanted) if wanted else b""
        except urllib3.exceptions.HTTPError as exc:
            raise ResultDownloadError(f"result download broke off: {type(exc).__name__}") from None
        chunk = head + rest
        self.bytes_read += len(chunk)
        if self.bytes_read > self._cap:
            raise ResultRejectedError(f"result is larger than MAX_RESULT_BYTES ({self._cap})")
        return chunk


@dataclass(frozen=True)
class ProviderParts:
    """The health of the two parts of the provider WriteResult calls (``cutout.health``)."""

    task_results: ProviderHealth
    downloads: ProviderHealth
    spread: Callable[[float, float], float] = random.uniform


def write_cutout(
    *,
    novita: NovitaClient,
    s3: Any,
    http: urllib3.PoolManager,
    settings: Settings,
    source: SourceObject,
    task_id: str,
    health: ProviderParts,
    attempt: int = 0,
    variants: tuple[Variant, ...] = (),
    converted: bool = False,
) -> Written:
    """Fetch the finished task's result URL afresh (it is never carried in state, and one that expired
    while the provider or S3 was unavailable is simply asked for again), check it, and write it: without
    ``variants`` (the default options) streamed into ``<output prefix><key>.png``; with them, rendered as
    each variant asks (:func:`_write_variants`). The key's outcomes are read once before (a newer one
    stands: nothing is written), and the write is conditional on what that read found there; then the
    outcomes it replaces are removed (``cutout.outcomes``). Idempotent: a second write of the same task
    overwrites the same keys with the same images. While task-result or the result host is unavailable
    nothing is written and ``wait_seconds`` says when to try again (``cutout.health``); past
    MaxProviderOutageSeconds: ProviderOutageError."""
    key = output_key(source.key, settings, variants[0].options.extension if variants else ".png")
    outcomes = all_outcomes(s3, settings, source.key)
    if _superseded(outcomes, source, attempt):
        return Written(bucket=settings.output_bucket, key=key, bytes=0)
    if not still_current(s3, source, gone_is_current=True):
        # Unversioned and overwritten after its submission: the provider may have read the newer bytes,
        # which would be written under this upload's name. The newer upload has its own execution.
        logger.info("superseded: the object changed after its submission; nothing written")
        metrics.add_metric(name="CutoutsSuperseded", unit=MetricUnit.Count, value=1)
        return Written(bucket=settings.output_bucket, key=key, bytes=0)
    asked = health.task_results.ask()
    if isinstance(asked, Wait):
        return _wait(settings, key, asked.outage, health)
    try:
        result = novita.task_result(task_id)
    except OUTAGE_ERRORS as exc:
        return _wait(settings, key, health.task_results.failed(str(exc), asked), health)
    health.task_results.succeeded(asked)
    if result.status != "SUCCEED" or not result.images:
        raise ResultRejectedError(
            f"task {task_id} is {result.status} with {len(result.images)} images, no cutout"
        )
    url = result.images[0].url
    check_result_url(url, settings.result_url_allowed_hosts)
    asked = health.downloads.ask()
    if isinstance(asked, Wait):
        return _wait(settings, key, asked.outage, health)
    try:
        response = http.request("GET", url, preload_content=False, timeout=DOWNLOAD_TIMEOUT, retries=False)
    except urllib3.exceptions.HTTPError as exc:
        why = f"result download failed: {type(exc).__name__}"
        return _wait(settings, key, health.downloads.failed(why, asked), health)
    if response.status >= 500:
        response.release_conn()
        why = f"result URL answered HTTP {response.status}"
        return _wait(settings, key, health.downloads.failed(why, asked), health)
    health.downloads.succeeded(asked)
    try:
        stream, image_format = _checked_stream(response, settings.max_result_bytes)
        if variants:
            with tempfile.TemporaryFile() as spooled:  # /tmp: rendering decodes from it, never holding it
                shutil.copyfileobj(stream, spooled, TRANSFER.multipart_chunksize)
                return _write_variants(
                    s3, settings, source, task_id, attempt, spooled, variants, converted, outcomes
                )
        profile = (
            icc_profile(_source_head(s3, settings, source, converted)) if image_format == "png" else None
        )
        output: Readable = WithProfile(stream, profile) if profile else stream
        extra = {"ContentType": _MIME[image_format], "Metadata": _metadata(source, task_id, attempt)}
        body = output.read(TRANSFER.multipart_threshold)
        mine = None  # read back after a write in parts (no ETag answered)
        if len(body) < TRANSFER.multipart_threshold:
            mine = _put_unless_superseded(s3, settings, key, body, extra, source, attempt, outcomes)
            if mine is None:
                return Written(bucket=settings.output_bucket, key=key, bytes=0)
        else:  # larger than one part: up in parts, without a condition (see the README's remaining races)
            replaced = cutout_at(s3, settings, source.key, key)  # read afresh: nothing guards the write
            s3.upload_fileobj(
                _Prefixed(body, output), settings.output_bucket, key, ExtraArgs=extra, Config=TRANSFER
            )
            if replaced is not None:  # the cutout it replaced takes its variants with it
                delete_variants(s3, settings, replaced)
    finally:
        response.release_conn()
    size = output.bytes_written if isinstance(output, WithProfile) else stream.bytes_read
    if not settle_after_cutout(s3, settings, source, attempt, mine):
        return Written(bucket=settings.output_bucket, key=key, bytes=0)
    metrics.add_metric(name="CutoutsWritten", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CutoutBytes", unit=MetricUnit.Bytes, value=size)
    logger.info("cutout written", extra={"output_key": key, "bytes": size, "icc_profile": bool(profile)})
    written = OutputWritten(settings.output_bucket, key, size, _FORMAT_NAMES[image_format])
    return Written(bucket=settings.output_bucket, key=key, bytes=size, outputs=(written,))


def _write_variants(
    s3: Any,
    settings: Settings,
    source: SourceObject,
    task_id: str,
    attempt: int,
    cutout: BinaryIO,
    variants: tuple[Variant, ...],
    converted: bool,
    outcomes: list[Outcome],
) -> Written:
    """Render ``cutout`` (the result, spooled to a file) once per variant, one at a time (one rendered
    image in memory), and write each: the variants but the first under the variant prefix, then the
    first, the cutout, under the output prefix, conditionally like a streamed one (on ``outcomes``, the
    key's as read before) and listing the others in its metadata: the cutout is written last, so an
    outcome that is found is whole."""
    from cutout.rendering import render  # Pillow: only here, only when asked for

    profile = icc_profile(_source_head(s3, settings, source, converted))
    first, *others = variants
    outputs = []
    etags: dict[str, str | None] = {}
    for variant in others:
        name = str(variant.name)
        key = variant_key(source.key, settings, name, variant.options.extension)
        cutout.seek(0)
        rendered = render(
            cutout, variant.options, icc_profile=profile, max_megapixels=settings.max_input_megapixels
        )
        metadata = {**_metadata(source, task_id, attempt), "variant": name}
        put = s3.put_object(
            Bucket=settings.output_bucket,
            Key=key,
            Body=rendered.body,
            ContentType=rendered.content_type,
            Metadata=metadata,
        )
        outputs.append(_output(settings, key, len(rendered.body), variant))
        etags[key] = put.get("ETag")
        del rendered  # before the next render: one rendered output in memory at a time
    key = output_key(source.key, settings, first.options.extension)
    cutout.seek(0)
    rendered = render(
        cutout, first.options, icc_profile=profile, max_megapixels=settings.max_input_megapixels
    )
    listed = variants_metadata([(str(v.name), v.options.extension) for v in others])
    metadata = {**_metadata(source, task_id, attempt), **({VARIANTS_METADATA: listed} if listed else {})}
    if first.name:
        metadata["variant"] = first.name
    extra = {"ContentType": rendered.content_type, "Metadata": metadata}
    others_keys = tuple(output.key for output in outputs)
    mine = _put_unless_superseded(
        s3, settings, key, rendered.body, extra, source, attempt, outcomes, others_keys
    )
    if mine is None:
        for written, etag in etags.items():  # a newer outcome stood up meanwhile: these are nobody's
            delete_output(s3, settings, written, etag)
        return Written(bucket=settings.output_bucket, key=key, bytes=0)
    if not settle_after_cutout(s3, settings, source, attempt, mine):
        return Written(bucket=settings.output_bucket, key=key, bytes=0)
    outputs.insert(0, _output(settings, key, len(rendered.body), first))
    metrics.add_metric(name="CutoutsWritten", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CutoutBytes", unit=MetricUnit.Bytes, value=len(rendered.body))
    metrics.add_metric(name="VariantsWritten", unit=MetricUnit.Count, value=len(outputs))
    logger.info("cutout written", extra={"output_keys": [output.key for output in outputs]})
    return Written(bucket=settings.output_bucket, key=key, bytes=len(rendered.body), outputs=tuple(outputs))


def _output(settings: Settings, key: str, size: int, variant: Variant) -> OutputWritten:
    return OutputWritten(settings.output_bucket, key, size, variant.options.format, variant.name)


def _source_head(s3: Any, settings: Settings, source: SourceObject, converted: bool) -> bytes:
    """The upload's first bytes, where its colour profile is (a JPEG's APP2, a PNG's iCCP: before the
    pixels), or those of its staged PNG when it was converted (``cutout.conversion`` carries the profile
    into it); empty when it cannot be read (gone since: the cutout is written without a profile)."""
    location = (
        {"Bucket": settings.output_bucket, "Key": staging_key(source, settings)}
        if converted
        else source.pinned_read()
    )
    try:
        response = s3.get_object(Range=f"bytes=0-{SOURCE_HEAD_BYTES - 1}", **location)
    except ClientError as exc:
        logger.info("source unreadable: no colour profile", extra={"error": exc.response.get("Error")})
        return b""
    return bytes(response["Body"].read())


def _wait(settings: Settings, key: str, outage: Outage, health: ProviderParts) -> Written:
    """Nothing written: the provider's ``outage.part`` is unavailable; try again after the next probe,
    spread over up to one probe interval (at most a minute)."""
    part = health.downloads if outage.part == health.downloads.part else health.task_results
    wait = part.wait_seconds(outage, health.spread(0.0, min(outage.interval, 60.0)))
    logger.info("provider unavailable: the cutout waits", extra={"wait_seconds": wait})
    return Written(bucket=settings.output_bucket, key=key, bytes=0, wait_seconds=wait)


def _checked_stream(response: urllib3.BaseHTTPResponse, cap: int) -> tuple[CappedStream, str]:
    if response.status != 200:
        raise ResultDownloadError(f"result URL answered HTTP {response.status} (expired or unavailable)")
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > cap:
        raise ResultRejectedError(f"result is {length} bytes, over MAX_RESULT_BYTES ({cap})")
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not (content_type.startswith("image/") or content_type in _GENERIC_TYPES):
        raise ResultRejectedError(f"result is {redact(content_type)!r}, not an image")
    try:
        head = response.read(_SNIFF_BYTES)
    except urllib3.exceptions.HTTPError as exc:
        raise ResultDownloadError(f"result download broke off: {type(exc).__name__}") from None
    info = probe(head)
    if info is None or info.format not in _MIME:
        raise ResultRejectedError("result body is not a PNG, JPEG or WebP image")
    return CappedStream(response, head, cap), info.format


def _superseded(outcomes: list[Outcome], source: SourceObject, attempt: int) -> bool:
    """Whether a newer outcome of the key stands among ``outcomes`` (a newer upload's, by S3's sequencer,
    or a later request's): then this cutout is not written (notifications and executions end in any
    order)."""
    standing = newer_outcome(outcomes, source, attempt, failure=False)
    if standing is None:
        return False
    logger.info(
        "superseded: a newer outcome stands, no cutout written",
        extra={"standing": standing.key, "standing_attempt": standing.attempt},
    )
    metrics.add_metric(name="CutoutsSuperseded", unit=MetricUnit.Count, value=1)
    return True


def _put_unless_superseded(
    s3: Any,
    settings: Settings,
    key: str,
    body: bytes,
    extra: dict[str, Any],
    source: SourceObject,
    attempt: int,
    outcomes: list[Outcome],
    variant_keys: tuple[str, ...] = (),
) -> Outcome | None:
    """One PutObject conditional on what the key held in ``outcomes`` (the key's outcomes as read: an
    older cutout there, or nothing), all read again after a lost race; the cutout written, or None when a
    newer outcome turned up meanwhile. The cutout it replaced takes its variants with it, but its own
    (``variant_keys``, just written)."""
    for _ in range(WRITE_ATTEMPTS):
        replaced = next((outcome for outcome in outcomes if outcome.key == key), None)
        try:
            put = s3.put_object(
                Bucket=settings.output_bucket, Key=key, Body=body, **extra, **write_condition(replaced)
            )
        except ClientError as exc:
            if not lost_race(exc):
                raise
            outcomes = all_outcomes(s3, settings, source.key)
            if _superseded(outcomes, source, attempt):
                return None
            continue
        if replaced is not None:
            delete_variants(s3, settings, replaced, frozenset(variant_keys))
        return Outcome.written(key, source, attempt, put.get("ETag"), variant_keys)
    raise OutcomeConflictError(f"{key}: another writer replaced it {WRITE_ATTEMPTS} times in a row")


class _Prefixed:
    """``head`` then the rest of ``stream``, read as one file-like object."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if 0 <= size < len(self._head):
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        chunk, self._head = self._head, b""
        wanted = -1 if size < 0 else size - len(chunk)
        return chunk + (self._stream.read(wanted) if wanted else b"")


def _metadata(source: SourceObject, task_id: str, attempt: int) -> dict[str, str]:
    """S3 user metadata must be ASCII: the key is percent-encoded. S3 refuses more than
    ``USER_METADATA_LIMIT`` bytes of it in all (names and values): a key too long to fit (a few hundred
    non-ASCII characters are enough) is stored as its SHA-256, ``source-key-sha256``, instead."""
    metadata = {
        "source-bucket": source.bucket,
        "source-version": source.revision,
        "task-id": task_id,
        "attempt": str(attempt),
    }
    if source.etag:
        metadata["source-etag"] = source.etag
    if source.sequencer:
        metadata["source-sequencer"] = source.sequencer
    encoded = quote(source.key, safe="/")
    if metadata_size({**metadata, "source-key": encoded}) <= USER_METADATA_LIMIT:
        metadata["source-key"] = encoded
    else:
        metadata["source-key-sha256"] = key_digest(source.key)
    return metadata


def metadata_size(metadata: dict[str, str]) -> int:
    """What S3 counts against its user-metadata limit: the UTF-8 bytes of every name and value."""
    return sum(len(name.encode()) + len(value.encode()) for name, value in metadata.items())
