"""Reading an upload from S3, pinned to the version named (``SourceObject.pinned_read``): what every step
that reads it or hands it on has in common."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cutout.errors import SourceChangedError, SourceUnavailableError, UnsupportedInputError
from cutout.state import SourceObject

_GONE_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "403", "AccessDenied"})
_CHANGED_CODES = frozenset({"412", "PreconditionFailed"})  # a read pinned by IfMatch: overwritten since
_EMPTY_CODE = "InvalidRange"  # S3's 416 to a ranged read from byte 0: the object is empty


def read(operation: Callable[..., Any], **kwargs: Any) -> Any:
    """An S3 read of an upload: overwritten since (412 to a pinned read) is SourceChangedError, missing
    or empty (416 to a ranged read) is permanent (UnsupportedInputError), anything else transient
    (SourceUnavailableError)."""
    try:
        return operation(**kwargs)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in _CHANGED_CODES:
            raise SourceChangedError(
                f"S3 {operation.__name__}: {code} (its ETag is no longer the one named)"
            ) from None
        if _kms_refused(code, str(exc.response.get("Error", {}).get("Message", ""))):
            raise UnsupportedInputError(
                f"object is encrypted with a KMS key this stack may not use ({code}): add the key's ARN to "
                "the stack's InputKmsKeyArns parameter, then reprocess the upload"
            ) from None
        if code == _EMPTY_CODE:
            raise UnsupportedInputError("empty file (0 bytes)") from None
        if code in _GONE_CODES:
            raise UnsupportedInputError(
                f"object is gone or unreadable ({code}): deleted before processing?"
            ) from None
        raise SourceUnavailableError(f"S3 {operation.__name__} failed: {code}") from None
    except BotoCoreError as exc:
        raise SourceUnavailableError(f"S3 {operation.__name__} failed: {type(exc).__name__}") from None


def _kms_refused(code: str, message: str) -> bool:
    """S3 refused to decrypt an upload under SSE-KMS: the key's own error (``KMS.DisabledException``,
    ...), or an AccessDenied that names KMS (no kms:Decrypt on the uploader's key)."""
    return code.startswith("KMS.") or (code in {"403", "AccessDenied"} and "kms" in message.lower())


def still_current(s3: Any, source: SourceObject, *, gone_is_current: bool = False) -> bool:
    """Whether an upload named by its ETag alone (no version id: an unversioned bucket) is still what
    its key holds. A version id pins every read already: always True then, and when nothing names it.
    An upload deleted since raises UnsupportedInputError, or counts as current with ``gone_is_current``
    (its bytes were read before it went)."""
    if source.version_id or not source.etag:
        return True
    try:
        read(s3.head_object, **source.pinned_read())
    except SourceChangedError:
        return False
    except UnsupportedInputError:
        if gone_is_current:
            return True
        raise
    return True
