"""Handlers against emulated AWS (a moto server in this process) and the local provider over HTTP.
Resources are made here by hand, named as in the sample events; the deploy of the real template is
covered by tests/localaws and tests/e2e."""

import importlib.util
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock
from urllib.parse import quote_plus, unquote_plus

import boto3
import pytest
import urllib3
from moto.server import ThreadedMotoServer

from cutout.novita import NovitaClient, new_pool_manager
from cutout_local.provider import LocalProvider, ProviderConfig, key_id
from tests.environment import FUNCTION_ENV
from tests.support.events import load_event

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk_functional_0123456789abcdef"
INPUT_BUCKET = FUNCTION_ENV["INPUT_BUCKET"]
OUTPUT_BUCKET = FUNCTION_ENV["OUTPUT_BUCKET"]


@dataclass
class FakeContext:
    remaining_ms: int = 30_000
    function_name: str = "cutout-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:cutout-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class World:
    env: dict[str, str]
    s3: Any
    sfn: Any
    provider: LocalProvider
    state_machine_arn: str
    accepted_before: int = 0

    def accepted(self) -> int:
        """Submissions the provider accepted during this test."""
        return self._accepted_total() - self.accepted_before

    def _accepted_total(self) -> int:
        return self.provider.stats()["keys"].get(key_id(API_KEY), {}).get("accepted", 0)

    def load(self, function: str, **overrides: str) -> ModuleType:
        """Import functions/<function>/app.py afresh (a cold start) with the function's environment."""
        env = {**self.env, **overrides}
        path = ROOT / "functions" / function / "app.py"
        spec = importlib.util.spec_from_file_location(f"app_{function}_{uuid.uuid4().hex}", path)
        module = importlib.util.module_from_spec(spec)
        with mock.patch.dict(os.environ, env):
            spec.loader.exec_module(module)
        return module

    def invoke(self, module: ModuleType, event: Any, remaining_ms: int = 30_000) -> Any:
        with mock.patch.dict(os.environ, self.env):
            return module.lambda_handler(event, FakeContext(remaining_ms))

    def upload(self, key: str, body: bytes) -> dict[str, Any]:
        return self.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body)

    def notification(self, key: str, put: dict[str, Any]) -> dict:
        """The sample SQS event, pointed at an object really uploaded (its key, version id and ETag)."""
        event = load_event("sqs_s3_object_created.json")
        body = json.loads(event["Records"][0]["body"])
        body["Records"][0]["s3"]["object"]["key"] = quote_plus(key, safe="/")
        event["Records"][0]["body"] = json.dumps(body)
        return self.aligned(event, {key: put})

    @staticmethod
    def aligned(event: dict, puts: dict[str, dict[str, Any]]) -> dict:
        """Give the records of a sample event the version ids and ETags of the objects really uploaded."""
        for message in event["Records"]:
            body = json.loads(message["body"])
            for record in body.get("Records", []):
                obj = record["s3"]["object"]
                put = puts.get(unquote_plus(obj["key"]))
                if put:
                    obj.update(eTag=put["ETag"].strip('"'), versionId=put.get("VersionId"))
            message["body"] = json.dumps(body)
        return event

    def submit_task(self, key: str, body: bytes) -> str:
        """Upload, and submit the object to the local provider with our own client (no handler)."""
        self.upload(key, body)
        url = self.s3.generate_presigned_url("get_object", Params={"Bucket": INPUT_BUCKET, "Key": key})
        return self.novita.submit(url)

    def finished_task(self, key: str, body: bytes, timeout: float = 60) -> str:
        task_id = self.submit_task(key, body)
        deadline = time.monotonic() + timeout
        while not self.novita.task_result(task_id).finished:
            assert time.monotonic() < deadline, f"task {task_id} did not finish"
            time.sleep(0.1)
        return task_id

    @property
    def novita(self) -> NovitaClient:
        return NovitaClient(self.provider.base_url, lambda: API_KEY, new_pool_manager())

    def executions(self) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]

    def output(self, key: str) -> dict[str, Any]:
        return self.s3.get_object(Bucket=OUTPUT_BUCKET, Key=key)

    def failure_record(self, key: str) -> dict[str, Any]:
        return json.loads(self.output(f"failures/{key}.json")["Body"].read())

    def output_keys(self) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=OUTPUT_BUCKET).get("Contents", [])]


@pytest.fixture(scope="session")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    with mock.patch.dict(os.environ, env):
        yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def provider():
    local = LocalProvider(ProviderConfig(api_keys=(API_KEY,), port=0, rate_limit_per_minute=1000))
    local.start()
    yield local
    local.stop()


@pytest.fixture
def world(moto_endpoint, provider):
    urllib3.request("POST", f"{moto_endpoint}/moto-api/reset")
    provider.faults.reset()
    s3, sfn, secrets = (boto3.client(s) for s in ("s3", "stepfunctions", "secretsmanager"))
    for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    secret_arn = secrets.create_secret(Name="cutout/novita-api-key", SecretString=API_KEY)["ARN"]
    dynamodb = boto3.client("dynamodb")
    for table in ("cutout-rate-limit", "cutout-idempotency"):
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    machine = sfn.create_state_machine(
        name="cutout",
        definition=json.dumps({"StartAt": "Hold", "States": {"Hold": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/cutout-state-machine",
    )["stateMachineArn"]
    env = {
        **FUNCTION_ENV,
        "INPUT_BUCKET": INPUT_BUCKET,
        "OUTPUT_BUCKET": OUTPUT_BUCKET,
        "PROVIDER_BASE_URL": provider.base_url,
        "RESULT_URL_ALLOWED_HOSTS": "127.0.0.1",
        "API_KEY_SECRET_ARN": secret_arn,
        "STATE_MACHINE_ARN": machine,
        "RATE_LIMIT_TABLE": "cutout-rate-limit",
        "IDEMPOTENCY_TABLE": "cutout-idempotency",
    }
    world = World(env=env, s3=s3, sfn=sfn, provider=provider, state_machine_arn=machine)
    world.accepted_before = world._accepted_total()
    return world
