"""Named errors. Their class names are what Step Functions sees as ``errorType``: the ASL retries the
retryable ones and routes the permanent ones to RecordFailure, by these exact names."""

from __future__ import annotations


class CutoutError(Exception):
    """Base of every error the project raises on purpose."""


class RetryableError(CutoutError):
    """A transient condition: the same call may succeed later (SQS redelivery or a state-machine Retry)."""


class PermanentError(CutoutError):
    """The input or the task cannot succeed: record a failure, do not retry."""


class ConfigurationError(PermanentError):
    """A setting is missing or invalid; raised at cold start, naming the variable."""


# --- provider (Novita) -------------------------------------------------------------------------------
class ProviderThrottledError(RetryableError):
    """HTTP 429. ``retry_after`` is the provider's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailableError(RetryableError):
    """HTTP 5xx, or the connection failed or was reset."""


class ProviderTimeoutError(RetryableError):
    """Connecting to or reading from the provider took longer than the configured timeout."""


class ProviderBillingError(ProviderUnavailableError):
    """The provider refuses for the account's balance or billing (reason ``BILLING_…``, whatever the HTTP
    status): like an outage, it pauses the pipeline until topping up ends it (``cutout.health``)."""


class ProviderOutageError(PermanentError):
    """The provider has been unavailable (5xx, timeouts, resets, billing refusals) for longer than
    MaxProviderOutageSeconds: the image gets a failure record that says so (``cutout.health``)."""


class ProviderProtocolError(RetryableError):
    """The provider answered 2xx with a body we cannot read (not JSON, fields missing or mistyped)."""


class ProviderAuthError(PermanentError):
    """HTTP 401/403: the API key is missing, wrong, or lacks permission (or billing failed)."""


class ProviderRejectedError(PermanentError):
    """Any other HTTP 4xx: the provider refuses the request as it is."""


class ProviderSubmitUncertainError(PermanentError):
    """A submission was sent but not answered in time: the provider may have created a task. It has no
    idempotency key, so resubmitting could create a second, billed task: record a failure instead."""


class ProviderTaskNotFoundError(PermanentError):
    """The provider does not know the task id."""


class ProviderTaskFailedError(PermanentError):
    """The provider ended the task FAILED (its reason is kept). Named by the ASL's TaskFailed state."""


class TaskDeadlineExceededError(PermanentError):
    """The task was not finished within MaxTaskWaitSeconds. Named by the ASL's DeadlinePassed state."""


# --- AWS and our own checks --------------------------------------------------------------------------
class SecretUnavailableError(RetryableError):
    """Secrets Manager could not be reached or answered with a transient error."""


class SourceUnavailableError(RetryableError):
    """S3 could not be read for a transient reason (throttling, 5xx, network)."""


class SourceChangedError(CutoutError):
    """An unversioned upload was overwritten since its notification (a read pinned to its ETag answered
    412): it is superseded by the newer upload, which has a notification and an execution of its own.
    Never leaves a function: the image ends without an outcome of its own."""


class UnsupportedInputError(PermanentError):
    """The uploaded object is not an image we can send: wrong type, too large, gone, or empty."""


class ImageConversionError(UnsupportedInputError):
    """An upload in a converted format (WebP, HEIC/HEIF, AVIF, TIFF, BMP, GIF) that cannot be made a PNG
    for the provider: it does not decode, or it has more pixels than MAX_INPUT_MEGAPIXELS or Pillow's
    decompression-bomb limit (``cutout.conversion``). The reason says which."""


class StagingUnavailableError(RetryableError):
    """S3 could not store or look up a staged copy (throttling, 5xx, network): ConvertFunction is retried."""


class ResultDownloadError(RetryableError):
    """The result URL could not be downloaded (connection error, 5xx, 403/404 of an expired URL)."""


class ResultRejectedError(PermanentError):
    """The provider's result is unusable: not https, host not allowed, not an image, or over the cap."""


class MalformedMessageError(PermanentError):
    """An SQS message that is neither an S3 notification nor a reprocess or backfill request this code
    reads: it can never succeed and ends in the DLQ."""


class ExecutionInputUnreadableError(PermanentError):
    """An ended execution's status-change event carries no readable input (EventBridge left it out, or it
    is not an execution state): ExecutionEndedFunction cannot tell which upload it was, and raises so the
    event ends in its dead-letter queue, in view."""


class StoreUnavailableError(RetryableError):
    """DynamoDB (the schedule, the spend count, the provider's health) answered a transient error or could
    not be reached, after the SDK's own retries: the state machine retries the task."""


class OutcomeConflictError(RetryableError):
    """Other writers replaced the key's outcome each time this one tried its conditional write; trying
    again later reads the newest and decides afresh."""


class RateLimiterBusyError(RetryableError):
    """Too many writers contended for the submission schedule at once; try again shortly."""


class BacklogFullError(PermanentError):
    """The upload would wait for its submission slot longer than MaxBacklogDays allows: it gets a failure
    record at once that says so, never a trip through SQS redelivery to the DLQ. Raised at admission when
    the schedule is that full, and in Send when a 429 or the spend cap would push an admitted image past
    its own bound (admitted at + MaxBacklogDays)."""


class SpendCapReachedError(CutoutError):
    """MaxSubmissionsPerDay submissions have been made today (UTC). Never leaves SendFunction: the image
    waits in the schedule and tries again (see ``cutout.sending``)."""


# What makes a function wait for the provider's recovery instead of failing (``cutout.health``).
OUTAGE_ERRORS: tuple[type[CutoutError], ...] = (ProviderUnavailableError, ProviderTimeoutError)

# What the function behind each Task state of the ASL can raise on purpose (Lambda's own errors aside).
# The ASL retries each retryable one in that state and routes each permanent one to RecordFailure;
# tests/template checks it state by state, and that no Retry or Catch names an error the state never
# sees. ``EXTERNAL_RETRYABLE`` are raised by libraries, by these names.
TASK_ERRORS: dict[str, tuple[type[CutoutError], ...]] = {
    "Convert": (
        SourceUnavailableError,
        StagingUnavailableError,
        UnsupportedInputError,
        ImageConversionError,
        ConfigurationError,
    ),
    "Send": (
        StoreUnavailableError,
        SourceUnavailableError,
        UnsupportedInputError,
        ProviderProtocolError,
        SecretUnavailableError,
        RateLimiterBusyError,
        ProviderAuthError,
        ProviderRejectedError,
        ProviderSubmitUncertainError,
        BacklogFullError,
        ProviderOutageError,
        ConfigurationError,
    ),
    "CheckStatus": (
        StoreUnavailableError,
        ProviderThrottledError,
        ProviderProtocolError,
        SecretUnavailableError,
        ProviderAuthError,
        ProviderRejectedError,
        ProviderTaskNotFoundError,
        ProviderOutageError,
        ConfigurationError,
    ),
    "WriteResult": (
        StoreUnavailableError,
        OutcomeConflictError,
        SourceUnavailableError,
        UnsupportedInputError,
        ProviderThrottledError,
        ProviderProtocolError,
        SecretUnavailableError,
        ResultDownloadError,
        ProviderAuthError,
        ProviderRejectedError,
        ProviderTaskNotFoundError,
        ResultRejectedError,
        ProviderOutageError,
        ConfigurationError,
    ),
    "RecordFailure": (),
}
# Powertools Idempotency: another invocation holds the same submission's record (in progress), or its
# table could not be read or written.
EXTERNAL_RETRYABLE: dict[str, tuple[str, ...]] = {
    "Send": ("IdempotencyAlreadyInProgressError", "IdempotencyPersistenceLayerError")
}
