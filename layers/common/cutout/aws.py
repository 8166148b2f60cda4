"""boto3 clients as every function makes them, once per cold start (region and endpoint come from the
environment, which is how the local stack points them at emulated AWS)."""

from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from cutout.errors import StoreUnavailableError

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


def client(service: str) -> Any:
    """A client with bounded timeouts and standard retries; S3 signs with SigV4 (presigned URLs)."""
    config = _CONFIG.merge(Config(signature_version="s3v4")) if service == "s3" else _CONFIG
    return boto3.client(service, config=config)  # type: ignore[call-overload]  # any service by name


# DynamoDB's answers that say "not now" rather than "no" (after the SDK's own retries).
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def table(name: str) -> Any:
    """A DynamoDB table (resource API: items as plain dicts) whose transient failures raise
    StoreUnavailableError, which the state machine retries by name: a bare ClientError would be caught as
    unexpected and end the image in a failure record."""
    return StateTable(boto3.resource("dynamodb", config=_CONFIG).Table(name))


class StateTable:
    """``get_item`` and ``update_item`` of a Table, transient failures named (see :func:`table`)."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.name = getattr(table, "name", "")
        self.meta = getattr(table, "meta", None)

    def get_item(self, **kwargs: Any) -> Any:
        return _named("GetItem", self._table.get_item, kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        return _named("UpdateItem", self._table.update_item, kwargs)


def _named(operation: str, call: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    try:
        return call(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in TRANSIENT_CODES:
            raise StoreUnavailableError(f"DynamoDB {operation} answered {code}") from None
        raise
    except (HTTPClientError, ConnectionError) as exc:
        raise StoreUnavailableError(f"DynamoDB {operation} failed: {type(exc).__name__}") from None
