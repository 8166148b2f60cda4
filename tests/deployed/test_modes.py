"""The deployed suite's two modes differ only in the endpoint: its clients are made the same way against
AWS and against the local stack (only the latter names an endpoint URL), and both find the stack through
DescribeStacks alone. No network: the clients are botocore's, stubbed."""

import botocore.session
import pytest
from botocore.stub import Stubber

from cutout.state import SourceObject
from tests.support import deployed
from tests.support.deployed import DeployedStack, Endpoint, StackUnavailable
from tests.support.template_env import load_template

LOCAL_URL = "http://127.0.0.1:5050"
STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:CutoutStateMachine-x"


def description(status="CREATE_COMPLETE"):
    outputs = {
        "InputBucketName": "in-bucket",
        "OutputBucketName": "out-bucket",
        "StateMachineArn": STATE_MACHINE,
        "IngestQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/ingest",
        "NovitaApiKeySecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:key-AbCdEf",
        "SubmissionsPerMinute": "10",
        "FunctionLogGroups": "/aws/lambda/cutout/submit,/aws/lambda/cutout/send",
    }
    parameters = {
        "InputPrefix": "in/",
        "OutputPrefix": "cut/",
        "FailurePrefix": "fail/",
        "VariantPrefix": "var/",
        "LogLevel": "INFO",
    }
    return {
        "StackName": "cutout",
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/cutout/1",
        "CreationTime": "2026-11-30T00:00:00Z",
        "StackStatus": status,
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    }


class Sessions:
    """Stands in for boto3.Session: records how each session and client is made; each client is a real,
    stubbed botocore client that answers DescribeStacks once (and refuses any other call)."""

    def __init__(self, answer=None, error=None):
        self.sessions, self.clients, self.stubs = [], [], []
        self._answer, self._error = answer, error

    def __call__(self, profile_name=None, region_name=None):
        self.sessions.append({"profile_name": profile_name, "region_name": region_name})
        return _Session(self, region_name)


class _Session:
    def __init__(self, sessions, region):
        self._sessions, self.region_name = sessions, region

    def get_credentials(self):
        return object()

    def client(self, service, **kwargs):
        self._sessions.clients.append((service, kwargs))
        made = botocore.session.get_session().create_client(
            service, region_name=self.region_name, aws_access_key_id="x", aws_secret_access_key="x"
        )
        stub = Stubber(made)
        if service == "cloudformation":
            if self._sessions._error:
                stub.add_client_error("describe_stacks", "ValidationError", self._sessions._error)
            else:
                stub.add_response(
                    "describe_stacks", {"Stacks": [self._sessions._answer]}, {"StackName": "cutout"}
                )
        stub.activate()
        self._sessions.stubs.append(stub)
        return made


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        (Endpoint("eu-west-1", profile="ops"), None),
        (Endpoint("eu-west-1", endpoint_url=LOCAL_URL), LOCAL_URL),
    ],
    ids=["deployed", "local"],
)
def test_the_modes_make_their_clients_alike_and_only_the_local_one_names_an_endpoint(
    monkeypatch, endpoint, url
):
    sessions = Sessions(answer=description())
    monkeypatch.setattr(deployed.boto3, "Session", sessions)

    stack = DeployedStack.describe(endpoint, "cutout")
    stack.client("s3")

    assert sessions.sessions == [{"profile_name": endpoint.profile, "region_name": "eu-west-1"}]
    assert [service for service, _ in sessions.clients] == ["cloudformation", "s3"]
    assert [kwargs["endpoint_url"] for _, kwargs in sessions.clients] == [url, url]
    for stub in sessions.stubs:
        stub.assert_no_pending_responses()  # DescribeStacks was asked, and nothing else


def test_everything_the_suite_uses_comes_from_describe_stacks(monkeypatch):
    monkeypatch.setattr(deployed.boto3, "Session", Sessions(answer=description()))

    stack = DeployedStack.describe(Endpoint("eu-west-1"), "cutout")

    assert stack.target.queue_url.endswith("/ingest")
    assert (stack.target.input_bucket, stack.target.output_bucket) == ("in-bucket", "out-bucket")
    assert (stack.target.input_prefix, stack.target.output_prefix, stack.target.failure_prefix) == (
        "in/", "cut/", "fail/",
    )  # fmt: skip
    assert stack.submissions_per_minute == 10
    assert stack.log_groups == ["/aws/lambda/cutout/submit", "/aws/lambda/cutout/send"]
    assert stack.key("a.jpg") == f"in/{stack.run}a.jpg"
    arns = stack.execution_arns(SourceObject("in-bucket", "in/x.jpg", "v1", "e1"))
    assert len(arns) == 2  # named from the version id, or from the ETag when the notification has none
    assert all(a.startswith(STATE_MACHINE.replace(":stateMachine:", ":execution:") + ":x-jpg-") for a in arns)


def test_the_template_declares_every_output_and_parameter_the_suite_reads():
    template = load_template()
    assert set(deployed.OUTPUTS) <= set(template["Outputs"])
    assert set(deployed.PARAMETERS) <= set(template["Parameters"])


def test_a_stack_that_does_not_exist_is_a_skip_that_names_it_and_the_region(monkeypatch):
    monkeypatch.setattr(deployed.boto3, "Session", Sessions(error="Stack with id cutout does not exist"))

    with pytest.raises(StackUnavailable, match=r"^stack cutout not found in region eu-west-1$"):
        DeployedStack.describe(Endpoint("eu-west-1"), "cutout")


def test_no_credentials_is_a_skip_that_says_so(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)

    with pytest.raises(StackUnavailable, match=r"^no AWS credentials found \("):
        DeployedStack.describe(Endpoint("eu-west-1"), "cutout")


def test_a_stack_not_deployed_is_an_error_not_a_skip(monkeypatch):
    monkeypatch.setattr(deployed.boto3, "Session", Sessions(answer=description("ROLLBACK_COMPLETE")))

    with pytest.raises(RuntimeError, match="stack cutout is ROLLBACK_COMPLETE"):
        DeployedStack.describe(Endpoint("eu-west-1"), "cutout")
