"""Waiting for uploads' outcomes: each upload (or reprocess request) ends as a cutout or a failure record
in the output bucket (``cutout.outcomes``), and it is the one an upload waits for when it says it is of
that upload (its version id or ETag) and of that request (its attempt, or a later one).

A round lists the output bucket where the awaited outcomes would be (the longest prefix their keys
share) and reads only an outcome that appeared or changed since the last round (its ETag or its
LastModified, which S3 keeps to the second): the cost grows with what lands, not with how long the wait
is. An outcome rewritten with the same bytes within the second of the round that read the one before it
would go unseen until the timeout: two outcomes of one key a second apart."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cutout.keys import CUTOUT_EXTENSIONS, failure_key, output_key
from cutout.outcomes import Outcome, cutout_at, failure_outcome
from cutout.state import SourceObject
from cutout_cli.stacks import Stack


@dataclass
class Awaited:
    """One upload a command waits for: ``source`` (with its version id or ETag when known) as request
    ``attempt`` (0: the upload's own notification; n: the n-th reprocess request)."""

    source: SourceObject
    attempt: int = 0
    started: float = field(default_factory=time.monotonic)

    def is_answered_by(self, outcome: Outcome) -> bool:
        if outcome.attempt < self.attempt:
            return False
        if self.source.revision:
            return outcome.is_of(self.source)
        return outcome.bucket == self.source.bucket and outcome.source_key == self.source.key


@dataclass(frozen=True)
class Landed:
    """An awaited upload's outcome, and the seconds from the request until a round saw it."""

    source: SourceObject
    outcome: Outcome
    seconds: float

    @property
    def ok(self) -> bool:
        return self.outcome.failure is None

    def to_dict(self, bucket: str) -> dict[str, Any]:
        error, reason = self.outcome.failure or (None, None)
        return {
            "key": self.source.key,
            "version_id": self.source.version_id,
            "outcome": "cutout" if self.ok else "failed",
            "outputs": [f"s3://{bucket}/{key}" for key in self.outcome.keys] if self.ok else [],
            "failure_record": None if self.ok else f"s3://{bucket}/{self.outcome.key}",
            "error": error,
            "reason": reason,
            "attempt": self.outcome.attempt,
            "seconds": round(self.seconds, 1),
        }


class Tracker:
    """The outcomes of ``awaited`` as they land in ``stack``'s output bucket (:meth:`poll`)."""

    def __init__(self, stack: Stack, awaited: list[Awaited]) -> None:
        self._stack = stack
        self._s3 = stack.client("s3")
        self._where: dict[str, tuple[Awaited, bool]] = {}  # location -> (upload, whether a failure record)
        for upload in awaited:
            for extension in CUTOUT_EXTENSIONS:
                self._where[output_key(upload.source.key, stack, extension)] = (upload, False)
            self._where[failure_key(upload.source.key, stack)] = (upload, True)
        cutouts = [location for location, (_, failure) in self._where.items() if not failure]
        failures = [location for location, (_, failure) in self._where.items() if failure]
        # S3 prefixes are strings, not paths: the longest common string is the narrowest listing
        scopes = {os.path.commonprefix(cutouts), os.path.commonprefix(failures)}  # noqa: RUF071
        self._scopes = [s for s in scopes if not any(s != o and s.startswith(o) for o in scopes)]
        self._seen: dict[str, tuple[str, str]] = {}
        self.pending = {id(upload): upload for upload in awaited}

    def poll(self) -> list[Landed]:
        """The awaited outcomes that landed since the last round."""
        landed = []
        for location, version in self._listed().items():
            if location not in self._where or self._seen.get(location) == version:
                continue
            self._seen[location] = version
            upload, failure = self._where[location]
            if id(upload) not in self.pending:
                continue
            key = upload.source.key
            if failure:
                outcome = failure_outcome(self._s3, self._stack, key)
            else:
                outcome = cutout_at(self._s3, self._stack, key, location)
            if outcome is not None and upload.is_answered_by(outcome):
                del self.pending[id(upload)]
                landed.append(Landed(upload.source, outcome, time.monotonic() - upload.started))
        return landed

    def wait(
        self,
        on_landed: Callable[[Landed], None],
        timeout: float | None = None,
        interval: float = 1.0,
    ) -> bool:
        """Poll until every awaited outcome landed (True) or ``timeout`` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.pending:
            for landed in self.poll():
                on_landed(landed)
            if not self.pending:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(interval)
        return True

    def _listed(self) -> dict[str, tuple[str, str]]:
        """Each object in the scopes, and what tells a rewrite of it: its ETag and when it was written (a
        request's outcome may have the same bytes, so the same ETag, as the outcome it replaces)."""
        listed = {}
        paginator = self._s3.get_paginator("list_objects_v2")
        for scope in self._scopes:
            for page in paginator.paginate(Bucket=self._stack.output_bucket, Prefix=scope):
                for item in page.get("Contents", []):
                    listed[item["Key"]] = (item["ETag"], item["LastModified"].isoformat())
        return listed
