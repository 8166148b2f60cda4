"""ExecutionEndedFunction: for an execution that failed, timed out or was aborted (its EventBridge status
change event), writes the failure record when the execution did not write one itself, and publishes its
``Cutout Failed`` event."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.ended import EndedExecution, record_ended_execution
from cutout.events import EventPublisher
from cutout.observability import logger, metrics
from cutout.settings import Settings

settings = Settings.from_env()
s3 = aws.client("s3")
events = EventPublisher(settings.event_bus_name)


@logger.inject_lambda_context(correlation_id_path="detail.name", clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ended = EndedExecution.from_event(event)
    logger.append_keys(object_key=ended.state.source.key, execution=ended.name)
    key = record_ended_execution(s3, settings, ended, events)
    return {"status": ended.status, "failure_key": key}
