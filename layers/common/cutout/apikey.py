"""The Novita API key, read from Secrets Manager through Powertools Parameters (cached for 5 minutes).
The key is only ever returned to the provider client: never logged, never put in state or records."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from cutout import aws
from cutout.errors import ConfigurationError, SecretUnavailableError

CACHE_SECONDS = 300
_PERMANENT_CODES = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException"}
)


class ApiKey:
    """Callable that returns the current API key; the secret is a plain string or JSON ``{"api_key": …}``."""

    def __init__(self, secret_arn: str, provider: SecretsProvider | None = None) -> None:
        self._secret_arn = secret_arn
        # Our client (timeouts, retries), not a new boto3 session of Powertools' own: ~80 ms of cold start.
        self._provider = provider or SecretsProvider(boto3_client=aws.client("secretsmanager"))

    def __call__(self) -> str:
        try:
            value = self._provider.get(self._secret_arn, max_age=CACHE_SECONDS)
        except GetParameterError as exc:
            # Powertools raises GetParameterError(str(exc)) inside its except block, without ``from``:
            # the SDK's error is the implicit context, not the cause.
            cause = exc.__cause__ or exc.__context__
            code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
            if code in _PERMANENT_CODES:
                raise ConfigurationError(f"API key secret unusable: {code}") from None
            what = code or (type(cause).__name__ if cause is not None else "unknown error")
            raise SecretUnavailableError(f"Secrets Manager unavailable: {what}") from None
        return _key_from(str(value))


def _key_from(value: str) -> str:
    value = value.strip()
    if value.startswith("{"):
        try:
            field = json.loads(value).get("api_key")
        except (ValueError, AttributeError):
            field = None
        if not isinstance(field, str):  # absent, null or a number: never the text "None" as a key
            raise ConfigurationError("API key secret is JSON without an 'api_key' string")
        value = field.strip()
    if not value:
        raise ConfigurationError("API key secret is empty")
    return value
