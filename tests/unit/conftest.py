import pytest

from cutout.settings import Settings

BASE_ENV = {
    "INPUT_BUCKET": "cutout-input-123456789012-3f2a9c1e",
    "OUTPUT_BUCKET": "cutout-output-123456789012-3f2a9c1e",
    "INPUT_PREFIX": "uploads/",
    "ACCEPTED_SUFFIXES": ".jpg,.jpeg,.png",
    "OUTPUT_PREFIX": "cutouts/",
    "FAILURE_PREFIX": "failures/",
    "PROVIDER_BASE_URL": "https://api.novita.ai",
    "RESULT_URL_ALLOWED_HOSTS": "*.amazonaws.com,*.novita.ai",
    "API_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:novita-AbCdEf",
    "PROVIDER_TIMEOUT_SECONDS": "10",
    "PRESIGN_EXPIRY_SECONDS": "300",
    "MAX_TASK_WAIT_SECONDS": "900",
    "SUBMISSIONS_PER_MINUTE": "10",
    "MAX_INPUT_BYTES": "31457280",
    "MAX_INPUT_MEGAPIXELS": "16",
    "MAX_RESULT_BYTES": "104857600",
}


@pytest.fixture
def env() -> dict[str, str]:
    return dict(BASE_ENV)


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)
