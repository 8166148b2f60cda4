"""The functions' environment and the tables, derived from template.yaml (never copied by hand): the
template's Globals and each function's own variables, parameters at their defaults, resources at made-up
names (the buckets named the way the template names them by default), and, for the benchmarks that start
handlers the way Lambda does, what Lambda itself sets. Only the standard library at import; cfn-lint
parses the template when asked."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"


@functools.cache
def load_template() -> dict[str, Any]:
    """template.yaml as plain data (parsed once per process)."""
    from cfnlint.decode import decode

    template, problems = decode(str(TEMPLATE))
    if problems:
        raise SystemExit(f"template.yaml does not parse: {problems}")
    return json.loads(json.dumps(template))


def function_env(name: str | None = None) -> dict[str, str]:
    """The variables template.yaml gives function ``name`` (its logical id): the Globals' and its own;
    the Globals' alone when ``name`` is None. A new dict at each call."""
    template = load_template()
    variables = dict(_variables(template.get("Globals", {}).get("Function", {})))
    if name is not None:
        variables.update(_variables(template["Resources"][name]["Properties"]))
    return {key: str(_value(value, template)) for key, value in variables.items()}


def template_functions() -> dict[str, dict[str, Any]]:
    """Each AWS::Serverless::Function: ``code_dir``, ``memory`` (MB) and ``env`` (a complete environment:
    :func:`function_env` plus what Lambda sets)."""
    template = load_template()
    defaults = template.get("Globals", {}).get("Function", {})
    found = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        memory = int(props.get("MemorySize", defaults.get("MemorySize", 128)))
        code_dir = ROOT / props["CodeUri"]
        env = function_env(name)
        env.update(
            AWS_LAMBDA_FUNCTION_NAME=f"cutout-{name}",
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(memory),
            AWS_EXECUTION_ENV="AWS_Lambda_python3.13",
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            AWS_ACCESS_KEY_ID="ASIABENCHMARKEXAMPLE",
            AWS_SECRET_ACCESS_KEY="benchmark-only-not-a-secret",
            AWS_SESSION_TOKEN="benchmark-only-not-a-token",
            AWS_XRAY_DAEMON_ADDRESS="169.254.79.129:2000",
            AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
            LAMBDA_TASK_ROOT=str(code_dir),
            TZ=":UTC",
            PATH=os.environ.get("PATH", "/usr/bin:/bin"),
        )
        found[name] = {"code_dir": str(code_dir), "memory": memory, "env": env}
    return found


def table_definitions() -> dict[str, dict[str, Any]]:
    """Each AWS::DynamoDB::Table of the template by logical id: its key schema, attribute definitions and
    billing mode, as DynamoDB's CreateTable takes them (without TableName)."""
    return {
        name: {
            key: resource["Properties"][key]
            for key in ("KeySchema", "AttributeDefinitions", "BillingMode")
            if key in resource["Properties"]
        }
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


def _variables(properties: dict[str, Any]) -> dict[str, Any]:
    return properties.get("Environment", {}).get("Variables", {})


def _value(value: Any, template: dict[str, Any]) -> Any:
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        ref = value["Ref"]
        if ref in template.get("Parameters", {}):
            return template["Parameters"][ref].get("Default", "")
        kind = template["Resources"][ref]["Type"]
        return {
            "AWS::S3::Bucket": f"cutout-{ref.removesuffix('Bucket').lower()}-{ACCOUNT}-3f2a9c1e",
            "AWS::DynamoDB::Table": f"cutout-{ref}-1A2B3C4D5E6F",
            "AWS::Serverless::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{ref}-AbCdEf",
            "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{ref}-AbCdEf",
        }.get(kind, f"cutout-{ref}")
    if "Fn::GetAtt" in value and template["Resources"][value["Fn::GetAtt"][0]]["Type"] == "AWS::IAM::Role":
        return f"arn:aws:iam::{ACCOUNT}:role/cutout/presign/cutout-{value['Fn::GetAtt'][0]}-AbCdEf"
    if "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        return _value(
            when_true if _condition(template["Conditions"][condition], template) else when_false, template
        )
    raise SystemExit(f"cannot resolve the template value {value}")


def _condition(expr: dict[str, Any], template: dict[str, Any]) -> bool:
    if "Fn::Equals" in expr:
        left, right = (_value(v, template) for v in expr["Fn::Equals"])
        return str(left) == str(right)
    if "Fn::Not" in expr:
        return not _condition(expr["Fn::Not"][0], template)
    if "Condition" in expr:
        return _condition(template["Conditions"][expr["Condition"]], template)
    raise SystemExit(f"cannot evaluate the template condition {expr}")
