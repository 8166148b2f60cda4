"""A Distributed Map over an S3 listing runs on the emulation as on AWS (cutout_local/aws/distributed_map.py):
the whole listing, an empty one, items in the shape Step Functions documents, tolerated failures enforced,
map run counts; and what the emulation would not run as AWS does is refused when the machine is created."""

import json
import time

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/distributed-map"


def definition(bucket, *, tolerated=0, fail_keys_with=None, **extra_map_fields):
    """A Distributed Map over ``bucket``'s objects under ``$.prefix`` whose item passes (or fails, when its
    key contains ``fail_keys_with``)."""
    states = {"Done": {"Type": "Pass", "End": True}}
    start = "Done"
    if fail_keys_with:
        states["Bad"] = {"Type": "Fail", "Error": "Bad", "Cause": "a key the test fails"}
        states["Check"] = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Key", "StringMatches": f"*{fail_keys_with}*", "Next": "Bad"}],
            "Default": "Done",
        }
        start = "Check"
    return json.dumps(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:listObjectsV2",
                        "Parameters": {"Bucket": bucket, "Prefix.$": "$.prefix"},
                    },
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": start,
                        "States": states,
                    },
                    "MaxConcurrency": 20,
                    "ToleratedFailurePercentage": tolerated,
                    **extra_map_fields,
                    "End": True,
                }
            },
        }
    )


@pytest.fixture(scope="module")
def bucket(deployed):
    name = "distributed-map-items"
    deployed.client("s3").create_bucket(Bucket=name)
    return name


def put(aws, bucket, keys):
    s3 = aws.client("s3")
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")


def run(aws, asl, prefix, timeout=120):
    sfn = aws.client("stepfunctions")
    name = f"dm-{time.monotonic_ns()}"
    machine = sfn.create_state_machine(name=name, definition=asl, roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"prefix": prefix}))["executionArn"]
    deadline = time.monotonic() + timeout
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    [map_run] = sfn.list_map_runs(executionArn=arn)["mapRuns"]
    return execution, sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])


def test_every_page_of_the_listing_is_read_past_1000_objects(deployed, bucket):
    put(deployed, bucket, [f"many/{i:04}" for i in range(1_050)])
    execution, map_run = run(deployed, definition(bucket), "many/")
    assert execution["status"] == "SUCCEEDED"
    counts = map_run["itemCounts"]
    assert (counts["total"], counts["succeeded"], counts["failed"]) == (1_050, 1_050, 0)
    assert (counts["pending"], counts["running"]) == (0, 0)
    assert map_run["executionCounts"]["running"] == 0


def test_an_empty_listing_is_a_map_run_of_no_items(deployed, bucket):
    execution, map_run = run(deployed, definition(bucket), "nothing-here/")
    assert (execution["status"], json.loads(execution["output"])) == ("SUCCEEDED", [])
    assert map_run["itemCounts"]["total"] == 0


def test_each_item_is_an_object_in_the_shape_step_functions_documents(deployed, bucket):
    put(deployed, bucket, ["shape/a.jpg"])
    s3_object = deployed.client("s3").head_object(Bucket=bucket, Key="shape/a.jpg")
    execution, _ = run(deployed, definition(bucket), "shape/")
    [item] = json.loads(execution["output"])  # DescribeExecution answers: every field is JSON
    assert item == {
        "Etag": s3_object["ETag"],  # quoted, as S3 lists it
        "Key": "shape/a.jpg",
        "LastModified": int(s3_object["LastModified"].timestamp()),
        "Size": 1,
        "StorageClass": "STANDARD",
    }


def test_a_failed_item_fails_the_map_run_when_no_failure_is_tolerated(deployed, bucket):
    put(deployed, bucket, ["strict/ok-1", "strict/ok-2", "strict/bad-1"])
    execution, map_run = run(deployed, definition(bucket, fail_keys_with="bad"), "strict/")
    assert (execution["status"], execution["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert "1 of 3 items failed" in execution["cause"]
    assert map_run["status"] == "FAILED"
    counts = map_run["itemCounts"]
    assert (counts["total"], counts["succeeded"], counts["failed"], counts["running"]) == (3, 2, 1, 0)
    assert map_run["executionCounts"]["running"] == 0


def test_failures_within_the_tolerated_percentage_let_the_map_run_succeed(deployed, bucket):
    put(deployed, bucket, ["lenient/ok-1", "lenient/ok-2", "lenient/ok-3", "lenient/bad-1"])
    execution, map_run = run(deployed, definition(bucket, tolerated=25, fail_keys_with="bad"), "lenient/")
    assert execution["status"] == "SUCCEEDED"
    assert (map_run["status"], map_run["toleratedFailurePercentage"]) == ("SUCCEEDED", 25.0)
    assert map_run["itemCounts"]["failed"] == 1


LIST = "arn:aws:states:::s3:listObjectsV2"
GET = "arn:aws:states:::s3:getObject"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ItemBatcher": {"MaxItemsPerBatch": 10}}, "ItemBatcher"),
        ({"ResultWriter": {"Resource": "arn:aws:states:::s3:putObject"}}, "ResultWriter"),
        ({"ItemReader": {"Resource": GET, "Parameters": {"Bucket": "b", "Key": "k"}}}, "ItemReader.Resource"),
        ({"ItemReader": {"Resource": LIST, "ReaderConfig": {"MaxItems": 5}}}, "ItemReader.ReaderConfig"),
    ],
)
def test_what_the_emulation_would_not_run_as_aws_does_is_refused_naming_it(deployed, change, named):
    sfn = deployed.client("stepfunctions")
    with pytest.raises(ClientError) as refused:
        sfn.create_state_machine(name="refused", definition=definition("b", **change), roleArn=ROLE)
    message = str(refused.value)  # moto answers InvalidDefinition without its error code
    assert "the local AWS emulation refuses this definition" in message
    assert f"state 'Each': {named}" in message
