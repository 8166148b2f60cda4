"""The EventBridge rule that brings every execution ending without a cutout to ExecutionEndedFunction:
its pattern (checked against the sample events with EventBridge's own matching rules, as moto implements
them), its target's retries and dead-letter queue."""

import json
from pathlib import Path

import pytest
from cfnlint.decode import decode
from moto.events.models import EventPattern

from cutout.ended import ENDED_WITHOUT_CUTOUT
from tests.support.events import load_event

ROOT = Path(__file__).resolve().parents[2]
MACHINE_ARN = load_event("execution_timed_out.json")["detail"]["stateMachineArn"]


@pytest.fixture(scope="module")
def resources():
    template, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    return template["Resources"]


@pytest.fixture(scope="module")
def rule(resources):
    return resources["ExecutionEndedRule"]["Properties"]


@pytest.fixture(scope="module")
def pattern(rule):
    """The rule's pattern with the stack's state machine ARN in place of its Ref."""
    pattern = json.loads(json.dumps(rule["EventPattern"]))
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "CutoutStateMachine"}]
    pattern["detail"]["stateMachineArn"] = [MACHINE_ARN]
    return EventPattern(json.dumps(pattern), pattern)


def test_the_rule_takes_the_state_machines_status_changes_that_end_without_a_cutout(rule):
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": list(ENDED_WITHOUT_CUTOUT), "stateMachineArn": [{"Ref": "CutoutStateMachine"}]},
    }


@pytest.mark.parametrize("sample", ["execution_timed_out.json", "execution_failed_outside_catch.json"])
@pytest.mark.parametrize("status", ENDED_WITHOUT_CUTOUT)
def test_the_sample_events_match_it(pattern, sample, status):
    event = load_event(sample)
    event["detail"]["status"] = status
    assert pattern.matches_event(event)


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED", "PENDING_REDRIVE"])
def test_other_statuses_do_not(pattern, status):
    event = load_event("execution_timed_out.json")
    event["detail"]["status"] = status
    assert not pattern.matches_event(event)


def test_another_state_machines_executions_do_not(pattern):
    event = load_event("execution_timed_out.json")
    event["detail"]["stateMachineArn"] = MACHINE_ARN + "-other"
    assert not pattern.matches_event(event)


def test_its_one_target_is_the_function_with_retries_and_a_dead_letter_queue(rule):
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["ExecutionEndedFunction", "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ExecutionEndedDeadLetterQueue", "Arn"]}}
    assert not {"Input", "InputPath", "InputTransformer"} & set(target)  # the function gets the whole event


def test_the_function_runs_the_handler_of_its_folder(resources):
    props = resources["ExecutionEndedFunction"]["Properties"]
    assert (props["CodeUri"], props["Handler"]) == ("functions/execution_ended/", "app.lambda_handler")
    assert (ROOT / "functions" / "execution_ended" / "app.py").is_file()
