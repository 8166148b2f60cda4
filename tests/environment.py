"""The functions' environment as the template's Globals set it (defaults of every parameter), for tests
that load the settings or the handlers without deploying the template."""

FUNCTION_ENV = {
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
