"""CheckStatusFunction: one poll of the provider task; returns the state machine's next ``$.poll``."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cutout import aws
from cutout.apikey import ApiKey
from cutout.durations import TaskDurations
from cutout.health import ProviderHealth
from cutout.novita import client_from, new_pool_manager
from cutout.observability import logger, metrics
from cutout.polling import check_task
from cutout.settings import Settings
from cutout.state import PollRequest

settings = Settings.from_env(require=("rate_limit_table",))
novita = client_from(settings, ApiKey(settings.api_key_secret_arn), new_pool_manager())
schedule_table = aws.table(settings.needed("rate_limit_table"))
health = ProviderHealth.of(schedule_table, "task-result", settings)
durations = TaskDurations(schedule_table)


@logger.inject_lambda_context(correlation_id_path="task_id", clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PollRequest.from_event(event)
    poll = check_task(novita, health, request, max_wait=settings.max_task_wait_seconds, durations=durations)
    logger.info(
        "polled", extra={"status": poll.status, "wait_seconds": poll.wait_seconds, "count": poll.count}
    )
    return poll.to_dict()
