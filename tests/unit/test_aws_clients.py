"""The boto3 clients every function makes: bounded timeouts, standard retries, SigV4 for S3 (creating a
client needs no network)."""

import time
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from cutout import aws
from cutout.errors import ConfigurationError, SourceUnavailableError, StoreUnavailableError
from tests.support.fakes import client_error


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    """A region and credentials from the environment, so that making a client never asks the instance
    metadata service."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def assert_bounded_with_standard_retries(config):
    assert (config.connect_timeout, config.read_timeout) == (3, 10)
    # botocore reads ``max_attempts: 3`` as three retries after the first call: four attempts in all.
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}


@pytest.mark.parametrize("service", ["s3", "stepfunctions", "secretsmanager", "cloudwatch"])
def test_every_client_has_bounded_timeouts_and_three_standard_retries(service):
    assert_bounded_with_standard_retries(aws.client(service).meta.config)


def test_s3_presigns_with_sigv4_which_every_region_accepts():
    # botocore's default presigns with the legacy SigV2 query (AWSAccessKeyId, Signature, Expires).
    url = aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": "cutout-uploads", "Key": "uploads/cat.jpg"}, ExpiresIn=900
    )
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F" in url
    assert "AWSAccessKeyId=" not in url


def test_other_clients_keep_their_service_default_signing():
    assert aws.client("stepfunctions").meta.config.signature_version == "v4"


def test_the_schedule_table_is_named_and_uses_the_same_bounded_client():
    table = aws.table("cutout-rate-limit")
    assert table.name == "cutout-rate-limit"
    assert_bounded_with_standard_retries(table.client.meta.config)


def test_a_table_can_share_a_client():
    dynamodb = aws.client("dynamodb")
    assert aws.table("cutout-rate-limit", dynamodb).client is dynamodb


class Recording:
    """A DynamoDB client that records each request and answers ``answer``."""

    def __init__(self, answer: dict) -> None:
        self.answer = answer
        self.requests: list[dict] = []

    def get_item(self, **request):
        self.requests.append(request)
        return self.answer

    update_item = get_item


def test_a_table_takes_and_answers_plain_values_as_the_resource_api_does():
    dynamodb = Recording({"Attributes": {"next_free": {"N": "12.5"}, "id": {"S": "schedule"}}})
    table = aws.StateTable(dynamodb, "cutout-rate-limit")

    answer = table.update_item(
        Key={"id": "schedule"},
        UpdateExpression="SET next_free = next_free + :spacing",
        ExpressionAttributeValues={":spacing": Decimal("6.25"), ":one": 1},
        ReturnValues="UPDATED_NEW",
    )

    assert dynamodb.requests == [
        {
            "TableName": "cutout-rate-limit",
            "Key": {"id": {"S": "schedule"}},
            "UpdateExpression": "SET next_free = next_free + :spacing",
            "ExpressionAttributeValues": {":spacing": {"N": "6.25"}, ":one": {"N": "1"}},
            "ReturnValues": "UPDATED_NEW",
        }
    ]
    assert answer["Attributes"] == {"next_free": Decimal("12.5"), "id": "schedule"}


def test_a_missing_item_is_an_answer_without_item():
    dynamodb = Recording({"ResponseMetadata": {}})
    table = aws.StateTable(dynamodb, "cutout-rate-limit")

    assert table.get_item(Key={"id": "schedule"}, ConsistentRead=True) == {"ResponseMetadata": {}}
    assert dynamodb.requests == [
        {"TableName": "cutout-rate-limit", "Key": {"id": {"S": "schedule"}}, "ConsistentRead": True}
    ]


def test_an_item_is_read_as_plain_values():
    table = aws.StateTable(Recording({"Item": {"submitted": {"N": "3"}}}), "cutout-rate-limit")

    assert table.get_item(Key={"id": "day"})["Item"] == {"submitted": Decimal(3)}


class Failing:
    """A DynamoDB client whose every call raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_item(self, **_):
        raise self.error

    def update_item(self, **_):
        raise self.error


@pytest.mark.parametrize("code", sorted(aws.TRANSIENT_CODES))
def test_a_transient_dynamodb_answer_is_a_retryable_error_the_state_machine_names(code):
    table = aws.StateTable(Failing(client_error(code, "UpdateItem")), "t")
    with pytest.raises(StoreUnavailableError, match=f"^DynamoDB UpdateItem answered {code}$"):
        table.update_item(Key={"id": "x"})


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://dynamodb"),
        ReadTimeoutError(endpoint_url="https://dynamodb"),
    ],
)
def test_an_unreachable_dynamodb_is_a_retryable_error(error):
    with pytest.raises(StoreUnavailableError, match=f"^DynamoDB GetItem failed: {type(error).__name__}$"):
        aws.StateTable(Failing(error), "t").get_item(Key={"id": "x"})


@pytest.mark.parametrize(
    "code", ["ConditionalCheckFailedException", "AccessDeniedException", "ValidationException"]
)
def test_a_refusal_stays_what_it_is(code):
    """A failed condition is the schedule's answer, and a denial a misconfiguration, not a hiccup."""
    with pytest.raises(ClientError) as raised:
        aws.StateTable(Failing(client_error(code, "UpdateItem")), "t").update_item(Key={"id": "x"})
    assert raised.value.response["Error"]["Code"] == code


def test_the_item_a_refused_condition_found_is_handed_on_as_plain_values():
    refused = ClientError(
        {"Error": {"Code": "ConditionalCheckFailedException"}, "Item": {"next_free": {"N": "12.5"}}},
        "UpdateItem",
    )
    with pytest.raises(ClientError) as raised:
        aws.StateTable(Failing(refused), "t").update_item(
            Key={"id": "x"}, ReturnValuesOnConditionCheckFailure="ALL_OLD"
        )
    assert aws.refused_item(raised.value) == {"next_free": Decimal("12.5")}


def test_a_refused_condition_without_an_item_hands_on_none():
    with pytest.raises(ClientError) as raised:
        aws.StateTable(
            Failing(client_error("ConditionalCheckFailedException", "UpdateItem")), "t"
        ).update_item(Key={"id": "x"})
    assert aws.refused_item(raised.value) == {}


# --- Presigned URLs signed with a role's credentials, which outlive them --------------------------------
class FakeSts:
    """AssumeRole answering a new key pair each time, valid for the DurationSeconds asked from ``now``."""

    def __init__(self, clock, failure=None):
        self.calls = []
        self._clock = clock
        self._failure = failure

    def assume_role(self, **kwargs):
        if self._failure is not None:
            raise self._failure
        self.calls.append(kwargs)
        expires = datetime.fromtimestamp(self._clock() + kwargs["DurationSeconds"], tz=UTC)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIAROLE{len(self.calls):012d}",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": expires,
            }
        }


LOCATION = {"Bucket": "cutout-uploads", "Key": "uploads/cat.jpg", "VersionId": "v1"}
ROLE = "arn:aws:iam::123456789012:role/cutout/presign/cutout-PresignRole-ABC"


def signed_by(url):
    return parse_qs(urlsplit(url).query)["X-Amz-Credential"][0].split("/")[0]


def test_urls_are_signed_with_the_presign_role_assumed_for_an_hour_and_reused_while_they_outlive_the_url():
    now = [1_000_000.0]
    sts = FakeSts(lambda: now[0])
    presigner = aws.Presigner(aws.client("s3"), ROLE, sts=sts, clock=lambda: now[0])

    first = presigner.url(LOCATION, 900)
    assert sts.calls == [{"RoleArn": ROLE, "RoleSessionName": "cutout-presign", "DurationSeconds": 3600}]
    assert signed_by(first) == "ASIAROLE000000000001"  # not the function's own key
    assert "X-Amz-Expires=900" in first
    now[0] += 3600 - 900 - 60  # the credentials still outlive a 900-s URL by a minute: reused
    assert signed_by(presigner.url(LOCATION, 900)) == "ASIAROLE000000000001"
    now[0] += 1  # no longer: assumed again
    assert signed_by(presigner.url(LOCATION, 900)) == "ASIAROLE000000000002"
    assert len(sts.calls) == 2


def test_without_a_role_the_clients_own_credentials_sign():
    url = aws.Presigner(aws.client("s3")).url(LOCATION, 60)
    assert signed_by(url) == "AKIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("AccessDenied", ConfigurationError),
        ("Throttling", SourceUnavailableError),
        ("500", SourceUnavailableError),
    ],
)
def test_a_role_that_cannot_be_assumed_is_named_and_a_transient_sts_error_is_retryable(code, error):
    sts = FakeSts(time.time, failure=client_error(code, "AssumeRole"))
    with pytest.raises(error):
        aws.Presigner(aws.client("s3"), ROLE, sts=sts).url(LOCATION, 60)
