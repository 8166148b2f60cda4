"""RecordFailureFunction: writes ``<failure prefix><key>.json`` for an image that could not be cut out."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.failures import failure_reason, write_failure_record
from cutout.observability import logger, metrics
from cutout.settings import Settings
from cutout.state import FailureRequest, FailureWritten

settings = Settings.from_env()
s3 = aws.client("s3")


@logger.inject_lambda_context(correlation_id_path="task_id", clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = FailureRequest.from_event(event)
    logger.append_keys(object_key=request.source.key)
    error, reason = failure_reason(request.failure)
    key = write_failure_record(
        s3,
        settings,
        request.source,
        error=error,
        reason=reason,
        task_id=request.task_id,
        polls=request.polls,
    )
    return FailureWritten(bucket=settings.output_bucket, key=key).to_dict()
