"""The Lambda context handed to handlers in tests: the local runtime's own ``LambdaContext``."""

from typing import Any

from cutout_local.aws.lambda_runtime import LambdaContext


def context(remaining_ms: int = 30_000, **attributes: Any) -> LambdaContext:
    """A context whose invocation has ``remaining_ms`` left now (and counts down from there)."""
    return LambdaContext(timeout_seconds=remaining_ms / 1000, **attributes)
