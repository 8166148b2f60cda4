"""The boto3 clients every function makes: bounded timeouts, standard retries, SigV4 for S3 (creating a
client needs no network)."""

import pytest

from cutout import aws


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
    assert_bounded_with_standard_retries(table.meta.client.meta.config)
