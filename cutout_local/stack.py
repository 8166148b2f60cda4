"""The whole local stack in one process (and a child process per Lambda execution environment): the
Novita-compatible provider (real engine) and the real template on emulated AWS, wired together the way a
deployment is (provider URL and result host as template parameters, the API key put into the stack's
secret)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from cutout_local.aws import LocalAws
from cutout_local.provider import LocalProvider, ProviderConfig

ROOT = Path(__file__).resolve().parent.parent


class LocalStack:
    """``LocalProvider`` + ``LocalAws(template.yaml)``. ``per_minute`` is both the provider's limit and
    the template's ``SubmissionsPerMinute``; ``window`` compresses the provider's minute for tests, and
    ``execution_timeout_seconds`` the state machine's TimeoutSeconds (``LocalAws``)."""

    def __init__(
        self,
        *,
        fast_waits: bool = False,
        per_minute: int = 60,
        window: float = 60.0,
        parameters: dict[str, str] | None = None,
        provider: dict[str, Any] | None = None,
        port: int = 0,
        provider_port: int = 0,
        sqs_poll_seconds: float | None = 1.0,
        log_level: str = "WARNING",
        execution_timeout_seconds: int | None = None,
    ) -> None:
        self.api_key = "sk_local_" + secrets.token_hex(12)
        self.provider = LocalProvider(
            ProviderConfig(
                api_keys=(self.api_key,),
                port=provider_port,
                rate_limit_per_minute=per_minute,
                rate_window_seconds=window,
                **(provider or {}),
            )
        )
        self._per_minute = per_minute
        self._window = window
        self._parameters = parameters or {}
        self._fast_waits = fast_waits
        self._port = port
        self._sqs_poll_seconds = sqs_poll_seconds
        self._log_level = log_level
        self._execution_timeout_seconds = execution_timeout_seconds
        self.aws: LocalAws | None = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        self.provider.start()
        try:
            # The schedule's minute is compressed like the provider's (SubmissionsPerMinute per `window`).
            per_template_minute = round(self._per_minute * 60 / self._window)
            parameters = {
                "ProviderBaseUrl": self.provider.base_url,
                "ResultUrlAllowedHosts": "127.0.0.1",
                "SubmissionsPerMinute": str(per_template_minute),
                "LogLevel": self._log_level,
                **self._parameters,
            }
            self.aws = LocalAws(
                ROOT / "template.yaml",
                parameters,
                fast_waits=self._fast_waits,
                port=self._port,
                sqs_poll_seconds=self._sqs_poll_seconds,
                execution_timeout_seconds=self._execution_timeout_seconds,
            ).start()
            self.aws.client("secretsmanager").put_secret_value(
                SecretId=self.outputs["NovitaApiKeySecretArn"], SecretString=self.api_key
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        self.provider.stop()

    @property
    def outputs(self) -> dict[str, str]:
        assert self.aws is not None, "the stack is not running"
        return self.aws.outputs

    def client(self, service: str) -> Any:
        assert self.aws is not None, "the stack is not running"
        return self.aws.client(service)

    def upload(self, key: str, body: bytes) -> dict[str, Any]:
        response = self.client("s3").put_object(Bucket=self.outputs["InputBucketName"], Key=key, Body=body)
        return cast(dict[str, Any], response)  # the PutObject response

    def preload(self, objects: Iterable[tuple[str, bytes]]) -> int:
        """Put ``objects`` (key, body) into the input bucket while its notifications are off (its
        notification configuration removed, then put back, through the S3 API), as objects that were
        there before the stack: nothing processes them until a backfill lists them. How many were put."""
        s3, bucket = self.client("s3"), self.outputs["InputBucketName"]
        saved = s3.get_bucket_notification_configuration(Bucket=bucket)
        saved.pop("ResponseMetadata", None)
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        put = 0
        try:
            for key, body in objects:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                put += 1
        finally:
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=saved)
        return put
