"""RecordFailureFunction: writes ``<failure prefix><key>.json`` for an image that could not be cut out, and
publishes its ``Cutout Failed`` event."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.events import EventPublisher
from cutout.failures import record_failure
from cutout.observability import logger, metrics
from cutout.settings import Settings
from cutout.state import FailureRequest

settings = Settings.from_env()
s3 = aws.client("s3")
events = EventPublisher(settings.event_bus_name)


@logger.inject_lambda_context(correlation_id_path="task_id", clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = FailureRequest.from_event(event)
    logger.append_keys(object_key=request.source.key)
    return record_failure(s3, settings, request, events).to_dict()
