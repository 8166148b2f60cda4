"""Key handling: event-key decoding, what is ours, output/failure keys,
deterministic execution names."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol
from urllib.parse import unquote_plus

from cutout.settings import Settings
from cutout.state import SourceObject

MAX_KEY_BYTES = 1024
LONG_KEYS = "long-keys/"  # under the output and failure prefixes: outputs of keys too long to name them
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def sequencer_after(a: str | None, b: str | None) -> bool:
    """True when event sequencer ``a`` comes strictly after ``b`` for the same key. S3 documents them as
    hex strings to compare after left-padding the shorter with zeros; unknown ones compare as not after."""
    if not a or not b:
        return False
    width = max(len(a), len(b))
    return a.upper().rjust(width, "0") > b.upper().rjust(width, "0")


def decode_event_key(raw_key: str) -> str:
    """S3 event notifications URL-encode keys with spaces as '+' (``my+photo%281%29.jpg``)."""
    return unquote_plus(raw_key)


def skip_reason(key: str, settings: Settings) -> str | None:
    """Why an object under the input bucket is not ours to process, or None if it is (whatever its
    suffix: an upload with another suffix gets a failure record that says what is accepted)."""
    if key.endswith("/"):
        return "folder marker"
    for prefix in (
        settings.output_prefix,
        settings.failure_prefix,
        settings.variant_prefix,
        settings.staging_prefix,
    ):
        if settings.input_bucket == settings.output_bucket and key.startswith(prefix):
            return f"under the output prefix {prefix!r} (would recurse)"
    if not key.startswith(settings.input_prefix):
        return f"outside the input prefix {settings.input_prefix!r}"
    return None


class Layout(Protocol):
    """Where the outputs are: all that output and failure keys are made of (``Settings`` is one; so is
    an operator command's view of a deployed stack)."""

    @property
    def output_bucket(self) -> str: ...
    @property
    def input_prefix(self) -> str: ...
    @property
    def output_prefix(self) -> str: ...
    @property
    def failure_prefix(self) -> str: ...
    @property
    def variant_prefix(self) -> str: ...


# Every extension an upload's cutout may have (cutout.options.FORMATS): where its outcome is looked for.
CUTOUT_EXTENSIONS = (".png", ".webp", ".jpg")


def output_key(key: str, settings: Layout, extension: str = ".png") -> str:
    """``<output prefix><key without input prefix, its extension replaced by extension>``: the cutout (an
    upload's only output, or the first of its variants)."""
    return _fit(settings.output_prefix, _stem(key, settings), extension, key)


def variant_key(key: str, settings: Layout, variant: str, extension: str) -> str:
    """``<variant prefix><variant>/<key without input prefix, its extension replaced>``: each variant of
    an upload but the first. Apart from the cutouts' prefix, so that no upload's cutout can take a
    variant's key (``a.thumb.jpg``'s cutout and ``a.jpg``'s variant ``thumb`` would both be ``a.thumb.png``
    under one prefix)."""
    return _fit(f"{settings.variant_prefix}{variant}/", _stem(key, settings), extension, key)


def _stem(key: str, settings: Layout) -> str:
    relative = key.removeprefix(settings.input_prefix)
    stem, dot, extension = relative.rpartition(".")
    return stem if dot and "/" not in extension else relative


def failure_key(key: str, settings: Layout) -> str:
    """``<failure prefix><key>.json``."""
    return _fit(settings.failure_prefix, key, ".json", key)


def staging_key(source: SourceObject, settings: Settings) -> str:
    """Where the PNG converted from one upload version waits for the provider to fetch it:
    ``<staging prefix><digest of bucket, key and revision>.png``. A digest, not the key: the staging
    prefix is not a place users look, and the name stays short and unique per version."""
    identity = f"{source.bucket}\n{source.key}\n{source.revision}"
    return f"{settings.staging_prefix}{hashlib.sha256(identity.encode()).hexdigest()}.png"


def key_digest(key: str) -> str:
    """The SHA-256 of a key (hex): what names it where the key itself is too long to store."""
    return hashlib.sha256(key.encode()).hexdigest()


def _fit(prefix: str, body: str, suffix: str, key: str) -> str:
    """S3 keys are at most 1,024 bytes: a longer name falls back to a digest of the source key."""
    candidate = f"{prefix}{body}{suffix}"
    if len(candidate.encode()) <= MAX_KEY_BYTES:
        return candidate
    return f"{prefix}{LONG_KEYS}{hashlib.sha256(key.encode()).hexdigest()}{suffix}"


def execution_name(source: SourceObject, attempt: int = 0) -> str:
    """Deterministic Step Functions execution name (≤ 80 chars, [A-Za-z0-9_-]) for one object version:
    a readable hint from the file name, then a digest of bucket, key and revision. Attempt 0 (the
    upload's own notification) keeps the name uploads always had; the n-th reprocess request adds n to
    the digest and ``-rN`` to the hint, so each request runs once (Standard execution names stay taken
    for 90 days after the execution ends)."""
    identity = f"{source.bucket}\n{source.key}\n{source.revision}"
    if attempt:
        identity += f"\n{attempt}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:40]
    hint = _NAME_UNSAFE.sub("-", source.key.rpartition("/")[2]).strip("-")
    if attempt:
        hint = "-".join(filter(None, (hint[: 36 - len(str(attempt))].rstrip("-"), f"r{attempt}")))
    return f"{hint[:38]}-{digest}" if hint else digest
