"""LocalAws as a process-level resource: environment, patches, one stack after another, errors."""

import io
import json
import os
import zipfile

import pytest

from cutout_local.aws import LocalAws, patches
from cutout_local.aws.emulator import DeployError
from tests.local_stack.aws.helpers import TEMPLATE


def test_the_environment_points_at_the_emulator_while_running_and_is_restored_after(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "someone-real")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    with LocalAws(template=TEMPLATE) as aws:
        assert os.environ["AWS_ENDPOINT_URL"] == aws.endpoint_url == f"http://127.0.0.1:{aws.port}"
        assert os.environ["MOTO_PORT"] == str(aws.port)
        assert os.environ["AWS_REGION"] == os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
        assert "AWS_PROFILE" not in os.environ

    assert os.environ["AWS_PROFILE"] == "someone-real"
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert patches.active() == []


def test_stacks_run_one_after_another_but_not_side_by_side():
    with LocalAws(template=TEMPLATE) as first:
        with pytest.raises(RuntimeError, match="one LocalAws per process"), LocalAws(template=TEMPLATE):
            pass
        assert len(patches.active()) == 23  # the refused one left the running one's patches alone
        first_bucket = first.outputs["InputBucketName"]
    with LocalAws(template=TEMPLATE, fast_waits=False) as second:
        assert second.outputs["InputBucketName"] != first_bucket
        assert [b["Name"] for b in second.client("s3").list_buckets()["Buckets"]].count(first_bucket) == 0
        assert len(patches.active()) == 21


def test_a_raised_exception_reaches_the_caller_as_the_runtime_error_payload(aws):
    response = aws.client("lambda").invoke(
        FunctionName=aws.resources["CheckStatusFunction"], Payload=json.dumps({"key": "bad.csv", "count": 0})
    )

    assert response["FunctionError"] == "Handled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "ProviderTaskFailedError"
    assert payload["errorMessage"] == "task for bad.csv failed"
    assert payload["stackTrace"]
    [invocation] = aws.invocations
    assert invocation.function == "CheckStatusFunction"
    assert type(invocation.error).__name__ == "ProviderTaskFailedError"


def test_a_stack_that_moto_cannot_create_fails_with_its_reason(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties: {EvaluationPeriods: 1}\n"
    )

    with pytest.raises(DeployError, match="KeyError: 'ComparisonOperator'"), LocalAws(template=template):
        pass
    assert patches.active() == []


def test_an_execution_started_without_a_name_gets_a_unique_one(aws):
    sfn = aws.client("stepfunctions")

    names = {
        sfn.start_execution(stateMachineArn=aws.outputs["StateMachineArn"])["executionArn"].rsplit(":", 1)[-1]
        for _ in range(2)
    }

    assert len(names) == 2
    assert all(len(name) == 36 for name in names)


def test_deleting_the_stack_removes_the_state_machine_from_the_executing_backend(aws):
    aws.client("cloudformation").delete_stack(StackName=aws.stack_name)

    assert aws.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert aws.client("lambda").list_functions()["Functions"] == []


@pytest.mark.parametrize(
    ("handler", "code", "error_type"),
    [
        ("app.lambda_handler", "import not_a_module\n", "Runtime.ImportModuleError"),
        ("nowhere.lambda_handler", "", "Runtime.ImportModuleError"),
        ("app.lambda_handler", "def lambda_handler(:\n", "Runtime.UserCodeSyntaxError"),
        ("app.handler", "def lambda_handler(event, context): pass\n", "Runtime.HandlerNotFound"),
        ("app.lambda_handler", "def lambda_handler(event, context): return {1, 2}\n", "Runtime.MarshalError"),
    ],
)
def test_a_function_that_cannot_start_or_answer_fails_like_the_runtime(aws, handler, code, error_type):
    lam = aws.client("lambda")
    role = aws.client("iam").get_role(RoleName=aws.resources["CheckStatusFunctionRole"])["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app.py", code)
    lam.create_function(
        FunctionName="broken",
        Runtime="python3.13",
        Role=role,
        Handler=handler,
        Code={"ZipFile": archive.getvalue()},
    )

    response = lam.invoke(FunctionName="broken")

    assert response["FunctionError"] == "Handled"
    assert json.loads(response["Payload"].read())["errorType"] == error_type
