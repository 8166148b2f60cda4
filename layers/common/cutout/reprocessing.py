"""Reprocessing on request: process an object version again (a failed upload, or any version) without
uploading it again, exactly once per request.

A request is a message on the ingest queue (``cutout.state.ReprocessRequest``), so SubmitFunction
admits it as it admits an upload (the same checks of the bytes, the same slot, the same failure record
on bad input). Each request carries an attempt number: the n-th request of a key is attempt n, and the
execution's name includes it (``cutout.keys.execution_name``), so the same request delivered twice
starts one execution. The attempt is 1 + the one recorded on the key's current outcome: asking again
before the first request has its outcome asks for the same attempt, and so starts nothing more.

Used by ``tools/reprocess.py``; runs where an operator's credentials are (not in a Lambda)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cutout.keys import LONG_KEYS, Layout
from cutout.outcomes import all_outcomes
from cutout.state import ReprocessRequest, SourceObject


@dataclass(frozen=True)
class Target:
    """A deployed pipeline as a reprocess request needs it: its ingest queue, buckets and prefixes."""

    queue_url: str
    input_bucket: str
    output_bucket: str
    input_prefix: str
    output_prefix: str
    failure_prefix: str
    variant_prefix: str = "variants/"


def next_attempt(s3: Any, layout: Layout, key: str) -> int:
    """1 + the attempt recorded on the key's current outcome (its cutout or failure record, the higher
    when both are there); 1 when it has none."""
    return 1 + max((outcome.attempt for outcome in all_outcomes(s3, layout, key)), default=0)


def request_reprocess(
    sqs: Any, s3: Any, target: Target, key: str, version_id: str | None = None, attempt: int | None = None
) -> ReprocessRequest:
    """Send one reprocess request for ``key`` of the input bucket: its version ``version_id`` (None: the
    object as it is when the request is admitted), as ``attempt`` (None: :func:`next_attempt`)."""
    request = ReprocessRequest(
        source=SourceObject(bucket=target.input_bucket, key=key, version_id=version_id),
        attempt=next_attempt(s3, target, key) if attempt is None else attempt,
    )
    sqs.send_message(QueueUrl=target.queue_url, MessageBody=request.to_message())
    return request


def failed_uploads(
    s3: Any, layout: Layout, prefix: str = "", since: datetime | None = None
) -> Iterator[SourceObject]:
    """The upload (key and version) of every failure record, those of keys under ``prefix`` only, and
    only records written at ``since`` or later when given."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=layout.output_bucket, Prefix=layout.failure_prefix):
        for item in page.get("Contents", []):
            if since is not None and item["LastModified"] < since:
                continue
            name = item["Key"].removeprefix(layout.failure_prefix)
            if not (name.startswith(prefix) or name.startswith(LONG_KEYS)):
                continue  # a record is named after its key, but one of a long key after its digest
            body = s3.get_object(Bucket=layout.output_bucket, Key=item["Key"])["Body"].read()
            source = SourceObject.from_dict(json.loads(body)["source"])
            if source.key.startswith(prefix):
                yield source
