"""Handlers against emulated AWS (a moto server in this process) and the local provider over HTTP.
Resources are made here by hand, named as in the sample events, the tables from the template's own
definitions; the deploy of the real template is covered by tests/local_stack and tests/e2e. The world
itself (tests.support.world.World) is what the tests use."""

import json
import logging

import boto3
import pytest
import urllib3
from moto.server import ThreadedMotoServer

from cutout_local.provider import LocalProvider, ProviderConfig
from tests.support.logs import function_log_lines
from tests.support.template_env import table_definitions
from tests.support.world import API_KEY, INPUT_BUCKET, OUTPUT_BUCKET, TEMPLATE_ENV, World

#: The template's tables (logical id) under the names the tests give them.
TABLES = {"RateLimitTable": "cutout-rate-limit", "IdempotencyTable": "cutout-idempotency"}


@pytest.fixture(scope="session")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):
    """The process environment points boto3 at the moto server for one test only (a session-wide change
    would leak into the tests that run after the functional ones)."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return moto_endpoint


@pytest.fixture(scope="session")
def provider():
    local = LocalProvider(ProviderConfig(api_keys=(API_KEY,), port=0, rate_limit_per_minute=1000))
    local.start()
    yield local
    local.stop()


@pytest.fixture
def world(aws_env, provider):
    urllib3.request("POST", f"{aws_env}/moto-api/reset")
    provider.faults.reset()
    s3, sfn, secrets = (boto3.client(s) for s in ("s3", "stepfunctions", "secretsmanager"))
    for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    secret_arn = secrets.create_secret(Name="cutout/novita-api-key", SecretString=API_KEY)["ARN"]
    dynamodb = boto3.client("dynamodb")
    for logical_id, definition in table_definitions().items():
        dynamodb.create_table(TableName=TABLES[logical_id], **definition)
    dead_letters = boto3.client("sqs").create_queue(QueueName="cutout-ingest-dlq")["QueueUrl"]
    machine = sfn.create_state_machine(
        name="cutout",
        definition=json.dumps({"StartAt": "Hold", "States": {"Hold": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/cutout-state-machine",
    )["stateMachineArn"]
    presign_role = boto3.client("iam").create_role(
        RoleName="cutout-PresignRole",
        Path="/cutout/presign/",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    env = {
        **TEMPLATE_ENV,
        "INPUT_BUCKET": INPUT_BUCKET,
        "OUTPUT_BUCKET": OUTPUT_BUCKET,
        "PROVIDER_BASE_URL": provider.base_url,
        "RESULT_URL_ALLOWED_HOSTS": "127.0.0.1",
        "API_KEY_SECRET_ARN": secret_arn,
        "STATE_MACHINE_ARN": machine,
        "RATE_LIMIT_TABLE": TABLES["RateLimitTable"],
        "IDEMPOTENCY_TABLE": TABLES["IdempotencyTable"],
        "DEAD_LETTER_QUEUE_URL": dead_letters,
        "PRESIGN_ROLE_ARN": presign_role,
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
    world = World(env=env, s3=s3, sfn=sfn, provider=provider, state_machine_arn=machine)
    world.accepted_before = world.accepted_total()
    return world


@pytest.fixture(autouse=True)
def function_logs():
    """Every functional test runs with the functions logging at DEBUG (the most they ever log), and no
    line of theirs may hold the API key."""
    with function_log_lines(logging.DEBUG) as lines:
        yield lines
    assert not [line for line in lines if API_KEY in line], "the API key was logged"
