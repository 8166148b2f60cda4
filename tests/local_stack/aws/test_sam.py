"""Packaging, translation and the refusal of what the emulation would silently drop (no emulator needed)."""

import io
import json
import zipfile

import pytest

from cutout_local.aws import UnsupportedTemplateError, cfn_models, sam
from tests.local_stack.aws.helpers import ROOT, TEMPLATE


class RecordingS3:
    """Just enough of an S3 client for ``sam.package``."""

    def __init__(self):
        self.objects = {}

    def create_bucket(self, Bucket):
        pass

    def put_object(self, Bucket, Key, Body):
        self.objects[Key] = Body


def translated(path):
    return sam.translate(
        sam.package(sam.load_template(path), path.parent, RecordingS3(), "artifacts"), {}, "us-east-1"
    )


def test_short_tags_become_intrinsic_functions():
    tpl = sam.load_template(TEMPLATE)

    assert tpl["Resources"]["Pipeline"]["Properties"]["DefinitionSubstitutions"][
        "CheckStatusFunctionArn"
    ] == {"Fn::GetAtt": ["CheckStatusFunction", "Arn"]}


def test_layer_with_a_python_build_method_is_zipped_under_python():
    s3 = RecordingS3()
    packaged = sam.package(sam.load_template(TEMPLATE), TEMPLATE.parent, s3, "artifacts")

    uri = packaged["Resources"]["CommonLayer"]["Properties"]["ContentUri"]
    names = zipfile.ZipFile(io.BytesIO(s3.objects[uri.rsplit("/", 1)[-1]])).namelist()
    assert names == ["python/canary_common/__init__.py"]
    assert packaged["Resources"]["Pipeline"]["Properties"]["DefinitionUri"].startswith(
        "s3://artifacts/Pipeline-"
    )


@pytest.mark.parametrize("path", [TEMPLATE, ROOT / "template.yaml"], ids=["canary", "product"])
def test_templates_use_only_what_is_emulated(path):
    sam.check_supported(translated(path))


def test_a_resource_type_without_a_model_is_refused():
    tpl = translated(TEMPLATE)
    tpl["Resources"]["Topic"] = {"Type": "AWS::Pipes::Pipe", "Properties": {}}

    with pytest.raises(
        UnsupportedTemplateError, match=r"Topic: resource type AWS::Pipes::Pipe is not emulated"
    ):
        sam.check_supported(tpl)


def test_a_property_that_would_be_dropped_is_refused():
    tpl = translated(TEMPLATE)
    tpl["Resources"]["OutputBucket"]["Properties"]["ReplicationConfiguration"] = {"Role": "r", "Rules": []}
    tpl["Resources"]["IngestQueue"]["Properties"]["FifoQueue"] = True

    with pytest.raises(UnsupportedTemplateError) as raised:
        sam.check_supported(tpl)
    assert "OutputBucket: property AWS::S3::Bucket.ReplicationConfiguration" in str(raised.value)
    assert "IngestQueue: property AWS::SQS::Queue.FifoQueue" in str(raised.value)


def test_what_is_accepted_without_effect_is_listed_with_its_reason():
    ignored = sam.ignored_properties(translated(TEMPLATE))

    assert any(line.startswith("AWS::S3::BucketPolicy.PolicyDocument: not applied") for line in ignored)
    assert not any(line.startswith("AWS::Lambda::Function.Layers") for line in ignored)


def test_definition_substitutions_replace_names_and_keep_context_paths():
    asl = {"States": {"A": {"Resource": "${Fn}", "Parameters": {"n.$": "$$.Execution.Name", "p": "$${Fn}"}}}}
    props = {"DefinitionString": json.dumps(asl), "DefinitionSubstitutions": {"Fn": "arn:fn", "Unused": 1}}

    text = cfn_models.state_machine_definition(props, "123456789012", "us-east-1")

    assert json.loads(text)["States"]["A"] == {
        "Resource": "arn:fn",
        "Parameters": {"n.$": "$$.Execution.Name", "p": "$arn:fn"},
    }
