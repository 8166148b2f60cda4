"""WriteResultFunction: streams the finished task's cutout into the output bucket, and publishes its
``Cutout Created`` event."""

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.apikey import ApiKey
from cutout.events import EventPublisher, cutout_created
from cutout.health import ProviderHealth
from cutout.novita import client_from, new_pool_manager
from cutout.observability import logger, metrics, tracer
from cutout.results import ProviderParts, write_cutout
from cutout.settings import Settings
from cutout.state import ResultRequest

settings = Settings.from_env(require=("rate_limit_table",))
http = new_pool_manager()
novita = client_from(settings, ApiKey(settings.api_key_secret_arn), http)
s3 = aws.client("s3")
health_table = aws.table(settings.needed("rate_limit_table"))
events = EventPublisher(settings.event_bus_name)
health = ProviderParts(
    task_results=ProviderHealth.of(health_table, "task-result", settings),
    downloads=ProviderHealth.of(health_table, "download", settings),
)


@logger.inject_lambda_context(correlation_id_path="task_id", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ResultRequest.from_event(event)
    logger.append_keys(object_key=request.source.key)
    written = write_cutout(
        novita=novita,
        s3=s3,
        http=http,
        settings=settings,
        source=request.source,
        task_id=request.task_id,
        health=health,
        attempt=request.attempt,
        variants=request.variants,
        converted=request.convert_from is not None,
    )
    if (created := cutout_created(request, written, finished_at=time.time())) is not None:
        events.publish(created)
    return written.to_dict()
