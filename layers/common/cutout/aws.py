"""boto3 clients as every function makes them, once per cold start (region and endpoint come from the
environment, which is how the local stack points them at emulated AWS)."""

from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


def client(service: str) -> Any:
    """A client with bounded timeouts and standard retries; S3 signs with SigV4 (presigned URLs)."""
    config = _CONFIG.merge(Config(signature_version="s3v4")) if service == "s3" else _CONFIG
    return boto3.client(service, config=config)  # type: ignore[call-overload]  # any service by name


def table(name: str) -> Any:
    """A DynamoDB table (resource API: items as plain dicts)."""
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)
