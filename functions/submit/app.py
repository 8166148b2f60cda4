"""SubmitFunction: SQS batch of S3 notifications -> checked, presigned, submitted, execution started.
A record that fails for a transient reason is reported as a batch item failure so SQS retries it."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.apikey import ApiKey
from cutout.intake import Intake
from cutout.novita import NovitaClient, new_pool_manager
from cutout.observability import logger, metrics, tracer
from cutout.settings import Settings

settings = Settings.from_env(require=("state_machine_arn",))
intake = Intake(
    settings=settings,
    s3=aws.client("s3"),
    sfn=aws.client("stepfunctions"),
    novita=NovitaClient(settings.provider_base_url, ApiKey(settings.api_key_secret_arn), new_pool_manager()),
)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> list[str]:
    logger.append_keys(message_id=record.message_id)
    return intake.process_message(record.body)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
