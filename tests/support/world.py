"""The functional tests' world: each handler loaded afresh against emulated AWS (a moto server in this
process) and the local provider over HTTP. The fixtures that build it are in tests/functional/conftest.py.
"""

import importlib.util
import json
import os
import time
import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from unittest import mock
from urllib.parse import quote_plus, unquote_plus

import boto3

from cutout.keys import failure_key, output_key
from cutout.novita import NovitaClient, new_pool_manager
from cutout.settings import Settings
from cutout_local.provider import LocalProvider, key_id
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.template_env import ROOT, function_env

API_KEY = "sk_functional_0123456789abcdef"
#: The template's Globals, as the sample events name the buckets; each test's world overrides endpoints.
TEMPLATE_ENV = function_env()
INPUT_BUCKET = TEMPLATE_ENV["INPUT_BUCKET"]
OUTPUT_BUCKET = TEMPLATE_ENV["OUTPUT_BUCKET"]
#: The settings of that environment (the prefixes of the output and failure keys).
SETTINGS = Settings.from_env(TEMPLATE_ENV)


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
        return self.accepted_total() - self.accepted_before

    def accepted_total(self) -> int:
        """Submissions the provider accepted with the test key since it started."""
        return self.provider.stats()["keys"].get(key_id(API_KEY), {}).get("accepted", 0)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

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
            return module.lambda_handler(event, context(remaining_ms))

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

    def output_key(self, key: str) -> str:
        """Where the cutout of upload ``key`` is written (cutout.keys, with this world's settings)."""
        return output_key(key, self.settings)

    def failure_key(self, key: str) -> str:
        """Where the failure record of upload ``key`` is written."""
        return failure_key(key, self.settings)

    def failure_record(self, key: str) -> dict[str, Any]:
        return json.loads(self.output(self.failure_key(key))["Body"].read())

    def output_keys(self) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=OUTPUT_BUCKET).get("Contents", [])]

    def messages(self, *bodies: str) -> dict:
        """An SQS event of these message bodies, as Lambda's SQS poller hands it over."""
        event = load_event("sqs_s3_object_created.json")
        [template] = event["Records"]
        event["Records"] = [
            {**template, "messageId": f"message-{index}", "body": body} for index, body in enumerate(bodies)
        ]
        return event

    def dead_letters(self) -> list[dict[str, Any]]:
        """The messages in the ingest dead-letter queue, with their attributes (received, not deleted)."""
        sqs = boto3.client("sqs")
        return sqs.receive_message(
            QueueUrl=self.env["DEAD_LETTER_QUEUE_URL"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
