"""WriteResultFunction: streams the finished task's cutout into the output bucket."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.apikey import ApiKey
from cutout.keys import SourceObject
from cutout.novita import client_from, new_pool_manager
from cutout.observability import logger, metrics, tracer
from cutout.results import write_cutout
from cutout.settings import Settings

settings = Settings.from_env()
http = new_pool_manager()
novita = client_from(settings, ApiKey(settings.api_key_secret_arn), http)
s3 = aws.client("s3")


@logger.inject_lambda_context(correlation_id_path="task_id", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_dict(event["source"])
    logger.append_keys(object_key=source.key)
    return write_cutout(
        novita=novita, s3=s3, http=http, settings=settings, source=source, task_id=event["task_id"]
    )
