"""The API key as read from Secrets Manager through Powertools' SecretsProvider (a fake one here), and
the named error for each way the read can fail."""

from typing import Any
from unittest import mock

import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from cutout import aws
from cutout.apikey import ApiKey
from cutout.errors import ConfigurationError, SecretUnavailableError

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:NovitaApiKeySecret-AbCdEf"
KEY = "sk_live_7d2f4c9a1b3e5f60"


class FakeSecrets:
    """The part of SecretsProvider ApiKey uses: ``get(name, max_age=...)``, answering a value or raising."""

    def __init__(self, answer: str | BaseException) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get(self, name: str, **kwargs: Any) -> str:
        self.calls.append((name, kwargs))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def api_key(answer: str | BaseException) -> tuple[ApiKey, FakeSecrets]:
    secrets = FakeSecrets(answer)
    return ApiKey(SECRET_ARN, provider=secrets), secrets  # type: ignore[arg-type]


def client_error(code: str, operation: str = "GetSecretValue") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} message"}}, operation)


def get_parameter_error(cause: BaseException | None) -> GetParameterError:
    """What Powertools raises for a failed read; ``__cause__`` set by hand (Powertools itself drops it)."""
    error = GetParameterError(str(cause))
    error.__cause__ = cause
    return error


# --- the value ---------------------------------------------------------------------------------------
def test_the_secret_is_read_by_its_arn_and_cached_for_five_minutes():
    key, secrets = api_key(KEY)
    assert key() == KEY
    assert secrets.calls == [(SECRET_ARN, {"max_age": 300})]


def test_a_plain_secret_loses_surrounding_whitespace():
    key, _ = api_key(f"  {KEY}\n")
    assert key() == KEY


def test_a_json_secret_gives_its_api_key_field():
    key, _ = api_key(f'{{"api_key": " {KEY} ", "comment": "rotated 2026-11"}}')
    assert key() == KEY


@pytest.mark.parametrize("value", ["", "  \n", '{"api_key": ""}', '{"api_key": "  "}'])
def test_an_empty_secret_is_a_configuration_error(value):
    key, _ = api_key(value)
    with pytest.raises(ConfigurationError, match=r"^API key secret is empty$"):
        key()


def test_a_secret_that_looks_like_json_but_is_not_is_a_configuration_error():
    key, _ = api_key('{"api_key": "sk_live_x"')
    with pytest.raises(ConfigurationError) as caught:
        key()
    assert str(caught.value) == "API key secret is JSON without an 'api_key' string"
    assert "sk_live_x" not in str(caught.value)


# --- failed reads ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code", ["ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException"]
)
def test_a_missing_or_forbidden_secret_is_a_configuration_error(code):
    key, _ = api_key(get_parameter_error(client_error(code)))
    with pytest.raises(ConfigurationError) as caught:
        key()
    assert str(caught.value) == f"API key secret unusable: {code}"


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServiceError", "DecryptionFailure"])
def test_other_service_errors_are_retryable_and_named_by_code(code):
    key, _ = api_key(get_parameter_error(client_error(code)))
    with pytest.raises(SecretUnavailableError) as caught:
        key()
    assert str(caught.value) == f"Secrets Manager unavailable: {code}"


def test_a_service_error_without_a_code_is_named_by_its_class():
    cause = ClientError({"ResponseMetadata": {"HTTPStatusCode": 500}}, "GetSecretValue")
    key, _ = api_key(get_parameter_error(cause))
    with pytest.raises(SecretUnavailableError, match=r"^Secrets Manager unavailable: ClientError$"):
        key()


def test_an_unreachable_endpoint_is_retryable():
    cause = EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com/")
    key, _ = api_key(get_parameter_error(cause))
    with pytest.raises(
        SecretUnavailableError, match=r"^Secrets Manager unavailable: EndpointConnectionError$"
    ):
        key()


@pytest.mark.parametrize(
    "secret", ['{"api_key": null}', '{"api_key": 12345}', '{"apiKey": "sk_live_x"}', '{"api_key": ["sk"]}']
)
def test_a_json_secret_without_an_api_key_string_is_a_configuration_error(secret):
    key, _ = api_key(secret)
    with pytest.raises(ConfigurationError, match="without an 'api_key' string"):
        key()


def test_a_read_error_with_nothing_behind_it_is_retryable():
    key, _ = api_key(GetParameterError("something went wrong"))
    with pytest.raises(SecretUnavailableError, match=r"^Secrets Manager unavailable: unknown error$"):
        key()


@pytest.mark.parametrize(
    ("code", "error", "message"),
    [
        (
            "ResourceNotFoundException",
            ConfigurationError,
            "API key secret unusable: ResourceNotFoundException",
        ),
        ("AccessDeniedException", ConfigurationError, "API key secret unusable: AccessDeniedException"),
        ("ThrottlingException", SecretUnavailableError, "Secrets Manager unavailable: ThrottlingException"),
    ],
)
def test_powertools_own_provider_errors_are_named_by_the_sdks_code(code, error, message):
    """Powertools' real SecretsProvider raises GetParameterError without ``from`` (the SDK's error is the
    implicit context): a missing or forbidden secret must still be a configuration error, not retried
    as "unavailable: NoneType" in three states."""
    client = aws.client("secretsmanager")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", service_error_code=code, service_message="no")
        with pytest.raises(error) as caught:
            ApiKey(SECRET_ARN, provider=SecretsProvider(boto3_client=client))()
    assert str(caught.value) == message


# --- the default provider ----------------------------------------------------------------------------
def test_without_a_provider_the_secret_is_read_through_our_secretsmanager_client(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    client = aws.client("secretsmanager")
    with Stubber(client) as stub, mock.patch.object(aws, "client", return_value=client) as make_client:
        stub.add_response(
            "get_secret_value", {"ARN": SECRET_ARN, "SecretString": KEY}, {"SecretId": SECRET_ARN}
        )
        key = ApiKey(SECRET_ARN)
        assert (key(), key()) == (KEY, KEY)  # the second read comes from the cache
    make_client.assert_called_once_with("secretsmanager")
