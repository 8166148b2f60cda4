"""SubmitFunction: SQS batch of S3 notifications -> each object checked (its name and its bytes) and
admitted with a submission slot and its execution started, or rejected with a failure record. A record
that fails for a transient reason is reported as a batch item failure so SQS delivers it again; a
malformed message is set aside in the dead-letter queue at once."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.errors import MalformedMessageError
from cutout.intake import Intake
from cutout.messages import DeadLetters
from cutout.observability import logger, metrics, tracer
from cutout.pacing import SubmissionPacer
from cutout.settings import Settings

settings = Settings.from_env(require=("state_machine_arn", "rate_limit_table", "dead_letter_queue_url"))
intake = Intake(
    settings=settings,
    s3=aws.client("s3"),
    sfn=aws.client("stepfunctions"),
    pacer=SubmissionPacer(aws.table(settings.needed("rate_limit_table")), settings.submissions_per_minute),
)
dead_letters = DeadLetters(aws.client("sqs"), settings.needed("dead_letter_queue_url"))
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> list[str]:
    logger.append_keys(message_id=record.message_id)
    try:
        return intake.process_message(record.body)
    except MalformedMessageError as exc:  # no delivery can succeed: set aside now, reported as handled
        return [dead_letters.set_aside(record.message_id, record.body, exc)]
    except Exception as exc:  # reported as a batch item failure: say why, the batch processor does not
        logger.warning(
            "not processed: SQS will deliver it again",
            extra={"error": type(exc).__name__, "reason": str(exc)},
        )
        raise


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
