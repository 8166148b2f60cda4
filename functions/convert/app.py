"""ConvertFunction: when the slot of an upload in another format (WebP, HEIC/HEIF, AVIF, TIFF, BMP, GIF)
has come, makes it a PNG in the staging prefix for SendFunction to hand the provider; returns the state."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.conversion import Converter
from cutout.observability import logger, metrics, tracer
from cutout.settings import Settings
from cutout.state import ExecutionState

settings = Settings.from_env()
converter = Converter(settings=settings, s3=aws.client("s3"))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = ExecutionState.from_event(event)
    logger.append_keys(object_key=state.source.key)
    return converter.convert(state).to_dict()
