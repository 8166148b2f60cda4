"""SendFunction: the execution's first task. When its slot has come, submits the object to the
provider (once, whatever the retries) and returns the state with the task id; or returns a new slot."""

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.apikey import ApiKey
from cutout.durations import TaskDurations
from cutout.health import ProviderHealth
from cutout.novita import client_from, new_pool_manager
from cutout.observability import logger, metrics, tracer
from cutout.pacing import SubmissionPacer
from cutout.sending import Sender
from cutout.settings import Settings
from cutout.spending import DailySubmissionCap
from cutout.state import ExecutionState

settings = Settings.from_env(require=("rate_limit_table", "idempotency_table"))
dynamodb = aws.client("dynamodb")
schedule_table = aws.table(settings.needed("rate_limit_table"), dynamodb)
# A completed submission is remembered for 2 days (an execution ends at most MaxTaskWaitSeconds plus a
# few retries after its submission); one left in progress by a timed-out invocation expires with that
# invocation (register_lambda_context below).
idempotency = IdempotencyConfig(expires_after_seconds=2 * 86400, raise_on_no_idempotency_key=True)
s3 = aws.client("s3")
sender = Sender(
    settings=settings,
    s3=s3,
    novita=client_from(settings, ApiKey(settings.api_key_secret_arn), new_pool_manager()),
    pacer=SubmissionPacer(schedule_table, settings.submissions_per_minute),
    cap=DailySubmissionCap(schedule_table, settings.max_submissions_per_day),
    health=ProviderHealth.of(schedule_table, "submit", settings),
    persistence=DynamoDBPersistenceLayer(
        table_name=settings.needed("idempotency_table"), boto3_client=dynamodb
    ),
    idempotency=idempotency,
    durations=TaskDurations(schedule_table),
    presigner=aws.Presigner(s3, settings.presign_role_arn),
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    state = ExecutionState.from_event(event)
    logger.append_keys(object_key=state.source.key)
    return sender.send(state).to_dict()
