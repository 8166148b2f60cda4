"""boto3 clients as every function makes them, once per cold start (region and endpoint come from the
environment, which is how the local stack points them at emulated AWS)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from cutout.errors import ConfigurationError, SourceUnavailableError, StoreUnavailableError

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
_SERIALIZER, _DESERIALIZER = TypeSerializer(), TypeDeserializer()


def client(service: str, config: Config | None = None) -> Any:
    """A client with bounded timeouts and standard retries (``config`` overrides them); S3 signs with
    SigV4 (presigned URLs)."""
    merged = _CONFIG.merge(Config(signature_version="s3v4")) if service == "s3" else _CONFIG
    if config is not None:
        merged = merged.merge(config)
    return boto3.client(service, config=merged)  # type: ignore[call-overload]  # any service by name


# A role assumed by a role (Lambda's) may last an hour at most (role chaining).
PRESIGN_SESSION_SECONDS = 3600


class Presigner:
    """Presigned GETs that stay valid as long as they say. A presigned URL stops working when the
    credentials that signed it expire, and a function's own credentials may expire sooner than the URL's
    ``ExpiresIn``. So URLs are signed with credentials of ``role_arn`` (read-only on the uploads), assumed
    for an hour and used only while they outlive the URL. Without a role, ``s3``'s own credentials sign
    (the tests' fakes)."""

    def __init__(
        self,
        s3: Any,
        role_arn: str | None = None,
        *,
        sts: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._s3 = s3
        self._role_arn = role_arn
        self._sts = sts
        self._clock = clock
        self._signer: Any = None
        self._expires_at = 0.0

    def url(self, params: dict[str, str], expires_in: int) -> str:
        """A presigned GetObject of ``params`` (Bucket, Key, VersionId or IfMatch), valid ``expires_in`` s."""
        signer = self._s3 if self._role_arn is None else self._role_signer(expires_in)
        url: str = signer.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return url

    def _role_signer(self, expires_in: int) -> Any:
        if self._signer is None or self._expires_at - self._clock() < expires_in + 60:
            credentials = self._assume()
            self._signer = boto3.client(
                "s3",
                config=_CONFIG.merge(Config(signature_version="s3v4")),
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
            self._expires_at = credentials["Expiration"].timestamp()
        return self._signer

    def _assume(self) -> dict[str, Any]:
        sts = self._sts if self._sts is not None else client("sts")
        try:
            answer = sts.assume_role(
                RoleArn=self._role_arn,
                RoleSessionName="cutout-presign",
                DurationSeconds=PRESIGN_SESSION_SECONDS,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"AccessDenied", "MalformedPolicyDocument", "RegionDisabledException"}:
                raise ConfigurationError(f"PRESIGN_ROLE_ARN cannot be assumed ({code})") from None
            raise SourceUnavailableError(f"STS AssumeRole answered {code}") from None
        except BotoCoreError as exc:
            raise SourceUnavailableError(f"STS AssumeRole failed: {type(exc).__name__}") from None
        credentials: dict[str, Any] = answer["Credentials"]
        return credentials


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


def table(name: str, dynamodb: Any | None = None) -> StateTable:
    """A DynamoDB table whose items are plain values, as boto3's resource API has them, over the low-level
    client ``dynamodb`` (else a new one): the resource API's Table costs twice the CPU of its client to
    make (27 ms against 13 on the development machine), at every cold start. Its transient failures raise
    StoreUnavailableError, which the state machine retries by name: a bare ClientError would be caught as
    unexpected and end the image in a failure record."""
    return StateTable(dynamodb if dynamodb is not None else client("dynamodb"), name)


class StateTable:
    """``get_item`` and ``update_item`` of one table, taking and answering plain values (numbers as
    Decimal) like the resource API's Table, transient failures named (see :func:`table`)."""

    def __init__(self, dynamodb: Any, name: str) -> None:
        self.client = dynamodb
        self.name = name

    def get_item(self, *, Key: dict[str, Any], **kwargs: Any) -> Any:
        request = {"TableName": self.name, "Key": _typed(Key), **kwargs}
        return _plain(_named("GetItem", self.client.get_item, request), "Item")

    def update_item(
        self, *, Key: dict[str, Any], ExpressionAttributeValues: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Like the resource API's, and so is a refused condition's ``Item`` (asked for with
        ``ReturnValuesOnConditionCheckFailure="ALL_OLD"``): plain values in the ClientError's response."""
        request = {"TableName": self.name, "Key": _typed(Key), **kwargs}
        if ExpressionAttributeValues is not None:
            request["ExpressionAttributeValues"] = _typed(ExpressionAttributeValues)
        try:
            return _plain(_named("UpdateItem", self.client.update_item, request), "Attributes")
        except ClientError as exc:
            answer = cast(dict[str, Any], exc.response)
            answer.update(_plain(answer, "Item"))
            raise


def refused_item(exc: ClientError) -> dict[str, Any]:
    """The item a refused conditional write found, as :meth:`StateTable.update_item` hands it on (asked
    for with ``ReturnValuesOnConditionCheckFailure="ALL_OLD"``); empty when there was none."""
    item: dict[str, Any] = cast(dict[str, Any], exc.response).get("Item", {})
    return item


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in values.items()}


def _plain(answer: dict[str, Any], field: str) -> dict[str, Any]:
    if field not in answer:
        return answer
    return {**answer, field: {name: _DESERIALIZER.deserialize(v) for name, v in answer[field].items()}}


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
