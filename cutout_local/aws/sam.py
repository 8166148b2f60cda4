"""From a SAM ``template.yaml`` to a CloudFormation stack in moto: what ``sam package`` + ``sam deploy`` do.

1. :func:`load_template` reads the YAML with the short tags (``!Ref``, ``!GetAtt A.B``, ``!Sub`` ...).
2. :func:`package` zips every local ``CodeUri``/``ContentUri`` into an (emulated) S3 bucket and uploads each
   local ``DefinitionUri``, rewriting them to ``s3://`` URIs. A Python layer (``BuildMethod: python*``, or
   ``makefile`` with python ``CompatibleRuntimes``) is zipped under ``python/``, as its build lays it out (it
   is then on ``sys.path`` as ``/opt/python``).
   Its ``requirements.txt`` is *not* installed: the handlers' environments run this venv's Python and
   import those packages from it.
3. :func:`translate` expands ``AWS::Serverless-2016-10-31`` with aws-sam-translator, offline.
4. :func:`create_stack` refuses what the emulator would drop (:func:`check_supported`), then creates it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, cast

import yaml

from cutout_local.aws.cfn_models import COVERAGE, EMULATED


class UnsupportedTemplateError(Exception):
    """The template uses a resource type or property that the local emulation would silently drop."""


class _CfnLoader(yaml.SafeLoader):
    pass


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    fn = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if fn == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)  # YAML has no fourth kind of node
        value = loader.construct_mapping(node, deep=True)
    return {fn: value}


_CfnLoader.add_multi_constructor("!", _short_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - SafeLoader plus the CloudFormation tags
    return cast(dict[str, Any], template)  # a template is a mapping


def _zip_dir(src: Path, prefix: str = "") -> bytes:
    if not src.is_dir():
        raise FileNotFoundError(f"code directory {src} does not exist")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                zf.write(path, os.path.join(prefix, path.relative_to(src).as_posix()))
    return buf.getvalue()


def _upload(s3: Any, bucket: str, logical_id: str, body: bytes, suffix: str) -> str:
    key = f"{logical_id}-{hashlib.sha256(body).hexdigest()[:16]}{suffix}"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def package(template: dict[str, Any], base_dir: str | Path, s3: Any, bucket: str) -> dict[str, Any]:
    """Return a copy of ``template`` whose local code and definition paths are uploaded to ``bucket``."""
    template = copy.deepcopy(template)
    base = Path(base_dir)
    s3.create_bucket(Bucket=bucket)
    global_code_uri = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.setdefault("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            uri = props.get("CodeUri", global_code_uri)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                props["CodeUri"] = _upload(s3, bucket, logical_id, _zip_dir(base / uri), ".zip")
        elif kind == "AWS::Serverless::LayerVersion":
            uri = props.get("ContentUri")
            if isinstance(uri, str) and not uri.startswith("s3://"):
                build_method = resource.get("Metadata", {}).get("BuildMethod", "")
                runtimes = props.get("CompatibleRuntimes", [])
                python_layer = build_method.startswith("python") or any(
                    r.startswith("python") for r in runtimes
                )
                prefix = "python" if python_layer else ""
                props["ContentUri"] = _upload(s3, bucket, logical_id, _zip_dir(base / uri, prefix), ".zip")
        elif kind == "AWS::Serverless::StateMachine":
            uri = props.get("DefinitionUri")
            if isinstance(uri, str) and not uri.startswith("s3://"):
                body = (base / uri).read_bytes()
                props["DefinitionUri"] = _upload(s3, bucket, logical_id, body, Path(uri).suffix)
    return template


class _BundledManagedPolicies:
    """aws-sam-translator resolves managed policy names from its bundled map first; ``load`` is its
    fallback (an IAM call on a real deploy), so nothing outside that map resolves here."""

    def load(self) -> dict[str, str]:
        return {}


def translate(template: dict[str, Any], parameters: dict[str, Any], region: str) -> dict[str, Any]:
    """SAM -> plain CloudFormation, offline (the translator reads the region from the environment)."""
    from samtranslator.translator.transform import transform

    params = {k: v for k, v in parameters.items() if v is not None}
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        translated = transform(copy.deepcopy(template), params, _BundledManagedPolicies())
        return cast(dict[str, Any], translated)  # the CloudFormation template, a mapping like its input
    finally:
        if saved is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved


def check_supported(template: dict[str, Any]) -> None:
    """Raise :class:`UnsupportedTemplateError` naming every resource type and property of the translated
    ``template`` that :data:`~cutout_local.aws.cfn_models.COVERAGE` does not list. moto itself would create
    the stack anyway: it skips unknown types (every ``Ref`` to them becomes nothing) and drops properties."""
    problems = []
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource["Type"]
        known = COVERAGE.get(kind)
        if known is None:
            problems.append(f"{logical_id}: resource type {kind} is not emulated")
            continue
        problems += [
            f"{logical_id}: property {kind}.{name} is not emulated"
            for name in resource.get("Properties", {})
            if name not in known
        ]
    if problems:
        raise UnsupportedTemplateError(
            "the local AWS emulation would silently drop parts of this template "
            "(add support in cutout_local/aws/cfn_models.py, or list them there as not emulated):\n  "
            + "\n  ".join(problems)
        )


def ignored_properties(template: dict[str, Any]) -> list[str]:
    """The ``Type.Property: reason`` lines of the template that are accepted but not emulated."""
    out = []
    for resource in template.get("Resources", {}).values():
        known = COVERAGE.get(resource["Type"], {})
        for name in resource.get("Properties", {}):
            if known.get(name, EMULATED) != EMULATED:
                out.append(f"{resource['Type']}.{name}: {known[name]}")
    return sorted(set(out))


def create_stack(
    template: dict[str, Any], cfn: Any, stack_name: str, parameters: dict[str, Any]
) -> dict[str, Any]:
    """Check, then ``create_stack`` the translated ``template``; return the ``describe_stacks`` entry."""
    check_supported(template)
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters.items() if v is not None
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cast(dict[str, Any], cfn.describe_stacks(StackName=stack_name)["Stacks"][0])  # a Stack entry
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(
            f"stack {stack_name} ended {stack['StackStatus']}: {stack.get('StackStatusReason')}"
        )
    return stack
