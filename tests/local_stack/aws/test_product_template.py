"""The product's template.yaml and ASL deploy on the emulation (the handlers are tested elsewhere)."""

import json
import re

import pytest

from cutout_local.aws import LocalAws
from tests.local_stack.aws.helpers import ROOT
from tests.support.template_env import load_template


@pytest.fixture(scope="module")
def product():
    with LocalAws(
        template=ROOT / "template.yaml", parameters={"ProviderBaseUrl": "http://127.0.0.1:9"}
    ) as aws:
        yield aws


def test_outputs_name_the_generated_resources(product):
    out = product.outputs
    assert set(out) >= {
        "InputBucketName", "OutputBucketName", "StateMachineArn",
        "IngestQueueUrl", "IngestDeadLetterQueueUrl", "NovitaApiKeySecretArn",
    }  # fmt: skip
    assert re.fullmatch(r"cutout-input-123456789012-[0-9a-f]{8}", out["InputBucketName"])
    assert out["OutputBucketName"] == out["InputBucketName"].replace("-input-", "-output-")


def test_state_machine_runs_the_real_asl(product):
    sfn = product.client("stepfunctions")
    definition = sfn.describe_state_machine(stateMachineArn=product.outputs["StateMachineArn"])["definition"]
    assert product.resources["RecordFailureFunction"] in definition
    assert "${" not in definition


def test_submit_is_fed_by_the_queue_with_partial_batch_responses(product):
    lam = product.client("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName=product.resources["SubmitFunction"])[
        "EventSourceMappings"
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    env = lam.get_function(FunctionName=product.resources["SubmitFunction"])["Configuration"]["Environment"]
    assert env["Variables"]["STATE_MACHINE_ARN"] == product.outputs["StateMachineArn"]
    assert env["Variables"]["API_KEY_SECRET_ARN"] == product.outputs["NovitaApiKeySecretArn"]
    assert env["Variables"]["PROVIDER_BASE_URL"] == "http://127.0.0.1:9"


def test_describe_stacks_answers_the_outputs_and_every_parameter_as_cloudformation_does(product):
    """What the deployed suite reads (tests/deployed), as from a stack on AWS: every parameter, the
    defaults included, as text."""
    [stack] = product.client("cloudformation").describe_stacks(StackName=product.stack_name)["Stacks"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}

    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == product.outputs
    assert set(parameters) == set(load_template()["Parameters"])
    assert parameters["ProviderBaseUrl"] == "http://127.0.0.1:9"
    assert (parameters["InputPrefix"], parameters["SubmissionsPerMinute"]) == ("uploads/", "10")
    assert product.outputs["SubmissionsPerMinute"] == "10"


def test_a_function_writes_its_output_to_its_own_log_group_in_cloudwatch_logs(product):
    """LoggingConfig.LogGroup: ExecutionEndedFunction's lines go to the group that FunctionLogGroups names
    for it, in its execution environment's stream, and to no /aws/lambda/<function name> group."""
    function = product.resources["ExecutionEndedFunction"]
    group = product.outputs["FunctionLogGroups"].split(",")[-1]
    event = {"detail": {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:probe"}}

    product.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))

    logs = product.client("logs")
    [invocation] = [i for i in product.invocations if i.function == "ExecutionEndedFunction"]
    [stream] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    events = logs.filter_log_events(logGroupName=group)["events"]
    assert group == f"/aws/lambda/{product.stack_name}/execution-ended"
    assert stream["logStreamName"] == invocation.environment
    assert [e["message"] for e in events] == [line for line in invocation.logs.splitlines() if line]
    assert any("ended execution's input unreadable" in e["message"] for e in events)
    groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert f"/aws/lambda/{function}" not in groups


def test_the_backfill_state_machine_deploys_beside_the_cutout_one_with_its_substitutions(product):
    sfn = product.client("stepfunctions")
    arn = product.outputs["BackfillStateMachineArn"]
    assert arn.endswith(f":stateMachine:{product.stack_name}-backfill")
    definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
    assert "${" not in definition
    assert product.outputs["InputBucketName"] in definition
    assert product.outputs["IngestQueueUrl"] in definition
    assert product.outputs["EventBusName"] == "default"
