"""The product's template.yaml and ASL deploy on the emulation (the handlers are tested elsewhere)."""

import re

import pytest

from cutout_local.aws import LocalAws
from tests.local_stack.aws.helpers import ROOT


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
