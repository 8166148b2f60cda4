import json
import re
import time
from unittest import mock

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from cutout.durations import TaskDurations
from cutout.errors import ProviderAuthError, SecretUnavailableError
from cutout.novita import NovitaClient
from tests.support.events import load_event
from tests.support.images import photo
from tests.support.world import API_KEY, INPUT_BUCKET

KEY = "uploads/my holiday photo(1).jpg"


def admitted(world, slot_in: float = 0.0) -> dict:
    """The sample execution input, for an object really uploaded, its slot ``slot_in`` seconds away."""
    put = world.upload(KEY, photo(320, 240))
    state = load_event("execution_input.json")
    state["source"].update(bucket=INPUT_BUCKET, version_id=put["VersionId"], etag=put["ETag"].strip('"'))
    state["slot"] = {"at": time.time() + slot_in, "wait_seconds": max(0, int(slot_in))}
    return state


def next_free(world) -> float:
    item = boto3.client("dynamodb").get_item(
        TableName="cutout-rate-limit", Key={"id": {"S": "novita-submissions"}}
    )
    return float(item["Item"]["next_free"]["N"])


def test_submits_when_the_slot_has_come(world):
    state = admitted(world)
    result = world.invoke(world.load("send"), state)
    assert isinstance(result["task_id"], str)
    assert result["task_id"]
    assert time.time() - 5 < result["submitted_at"] <= time.time()
    # looks at the task after submitting: the first Wait leads to where its eta ends, or none if done
    poll = result["poll"]
    assert {k: poll[k] for k in ("deadline_passed", "reason", "paused_seconds", "learns")} == {
        "deadline_passed": False,
        "reason": "",
        "paused_seconds": 0,
        "learns": True,  # nothing recorded yet: looked at at once, so its duration will be recorded
    }
    assert poll["count"] >= 1
    assert 0 <= poll["unfinished_until"] <= 60
    assert result["poll"]["status"] in ("QUEUED", "PROCESSING", "SUCCEED")
    assert 0 <= result["poll"]["wait_seconds"] <= 60
    assert result["source"] == state["source"]
    assert world.accepted() == 1


def test_the_same_object_version_is_submitted_once_whatever_the_retries(world):
    state = admitted(world)
    app = world.load("send")
    first = world.invoke(app, state)
    second = world.invoke(app, state)
    third = world.invoke(world.load("send"), state)  # a new container: the record is in DynamoDB
    assert first["task_id"] == second["task_id"] == third["task_id"]
    assert world.accepted() == 1


def test_a_slot_further_away_than_a_second_is_waited_for_in_the_state_machine(world):
    result = world.invoke(world.load("send"), admitted(world, slot_in=5))
    assert result["task_id"] is None
    assert 3 <= result["slot"]["wait_seconds"] <= 5
    assert world.accepted() == 0


def test_the_sub_second_rest_of_the_way_is_slept_in_the_function(world):
    state = admitted(world, slot_in=0.6)
    result = world.invoke(world.load("send"), state)
    assert result["task_id"]
    assert result["submitted_at"] >= state["slot"]["at"]


@pytest.mark.parametrize(("retry_after", "at_least"), [(7, 7.0), (None, 1.0)])
def test_a_429_reschedules_the_execution_and_pushes_the_schedule_back(world, retry_after, at_least):
    world.provider.faults.update(submit_429_next=1, submit_429_retry_after=retry_after)
    app = world.load("send", SUBMISSIONS_PER_MINUTE="60")
    before = time.time()

    result = world.invoke(app, admitted(world))

    assert result["task_id"] is None
    assert result["slot"]["at"] >= before + at_least
    assert next_free(world) >= before + at_least
    later = world.invoke(app, {**result, "slot": {"at": time.time(), "wait_seconds": 0}})
    assert later["task_id"]
    assert world.accepted() == 1


def test_provider_5xx_pauses_submissions_and_the_probe_submits(world):
    world.provider.faults.update(submit_5xx_next=1)
    state = admitted(world)
    app = world.load("send")
    waiting = world.invoke(app, state)
    assert waiting["task_id"] is None
    assert waiting["slot"]["at"] >= time.time() + 0.5  # after the first probe, 1 s after the failure
    assert next_free(world) >= waiting["slot"]["at"]  # the whole schedule was pushed past it
    time.sleep(max(0.0, waiting["slot"]["at"] - time.time()))
    assert world.invoke(app, waiting)["task_id"]
    assert world.accepted() == 1


def test_provider_unreachable_pauses_submissions(world):
    waiting = world.invoke(world.load("send", PROVIDER_BASE_URL="http://127.0.0.1:9"), admitted(world))
    assert waiting["task_id"] is None
    outage = boto3.client("dynamodb").get_item(
        TableName="cutout-rate-limit", Key={"id": {"S": "provider-health#submit"}}, ConsistentRead=True
    )["Item"]
    assert outage["last_error"]["S"] == "POST /v3/async/image-remove-background failed: NewConnectionError"


def test_wrong_api_key_is_permanent_and_never_shown(world, capsys):
    boto3.client("secretsmanager").put_secret_value(
        SecretId=world.env["API_KEY_SECRET_ARN"], SecretString="sk_wrong_1"
    )
    with pytest.raises(ProviderAuthError) as raised:
        world.invoke(world.load("send"), admitted(world))
    assert "sk_wrong_1" not in str(raised.value)
    assert "sk_wrong_1" not in capsys.readouterr().out


def test_secrets_manager_unavailable_is_retryable(world):
    app = world.load("send", AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:9")
    with pytest.raises(SecretUnavailableError):
        world.invoke(app, admitted(world))


def test_the_api_key_never_reaches_logs_or_state(world, capsys, function_logs):
    result = world.invoke(world.load("send"), admitted(world))
    assert any("submitted to the provider" in line for line in function_logs)
    assert not [line for line in function_logs if API_KEY in line]
    assert API_KEY not in capsys.readouterr().out
    assert API_KEY not in json.dumps(result)


def test_a_submission_left_in_progress_by_a_timed_out_invocation_expires_with_it(world):
    """A killed invocation (timeout, crash) leaves the idempotency record IN_PROGRESS: it must block a
    concurrent retry, but only until the killed invocation's own deadline."""
    state = admitted(world)
    app = world.load("send")
    killed = SystemExit("the Lambda runtime killed the invocation")  # not an Exception: no clean-up runs
    with mock.patch.object(NovitaClient, "submit", side_effect=killed), pytest.raises(SystemExit):
        world.invoke(app, state, remaining_ms=1500)

    with pytest.raises(IdempotencyAlreadyInProgressError):  # Step Functions retries this one
        world.invoke(app, state)
    time.sleep(1.6)
    assert world.invoke(app, state)["task_id"]
    assert world.accepted() == 1


def test_the_presigned_input_url_expires_in_minutes(world, caplog):
    caplog.set_level("INFO", logger="werkzeug")  # the emulated S3 logs each request it serves
    task_id = world.invoke(world.load("send"), admitted(world))["task_id"]
    while not world.novita.task_result(task_id).finished:  # the provider fetches the image from its worker
        time.sleep(0.05)
    fetches = [r.getMessage() for r in caplog.records if "X-Amz-Expires=" in r.getMessage()]
    assert fetches
    assert all("X-Amz-Expires=300&" in line for line in fetches)
    # signed by the PresignRole's session (STS keys begin ASIA), not the function's own credentials, which
    # may expire before the URL does
    credentials = {re.search(r"X-Amz-Credential=([A-Z0-9a-z]+)(/|%2F)", line).group(1) for line in fetches}
    assert len(credentials) == 1
    assert credentials.pop().startswith("ASIA")


def test_with_short_recent_tasks_the_look_after_submitting_waits_for_most_to_end(world):
    """Durations recorded beside the schedule (cutout.durations: 100 tasks of 1.5-1.7 s this hour, as the
    provider's answers give them) time the look after submitting (cutout.looks.first_look_at)."""
    durations = TaskDurations(boto3.resource("dynamodb").Table(world.env["RATE_LIMIT_TABLE"]))
    for i in range(100):
        durations.record(1.5 + 0.002 * i, exact=True)
    assert durations.recent().samples == 100
    app = world.load("send")
    result = world.invoke(app, admitted(world))
    assert 1.5 <= time.time() - result["submitted_at"] < 15
    assert result["poll"]["count"] == 1
    if result["poll"]["status"] == "SUCCEED":
        assert result["poll"]["wait_seconds"] == 0  # straight to WriteResult (the Submitted choice)
