"""What the named errors carry: the state machine reads their class name, the handlers their fields."""

from cutout.errors import ProviderThrottledError, RetryableError


def test_a_throttle_keeps_the_providers_retry_after():
    error = ProviderThrottledError("HTTP 429 from the provider", retry_after=30.0)
    assert (str(error), error.retry_after) == ("HTTP 429 from the provider", 30.0)
    assert isinstance(error, RetryableError)


def test_a_throttle_without_retry_after_has_none():
    assert ProviderThrottledError("HTTP 429 from the provider").retry_after is None
