"""Backfill on the whole local stack: objects put into the input bucket while its notifications were off
get their outcomes when the backfill state machine runs (started as `cutout backfill` starts it), once
each: those already processed through their notification are not processed again, and a second backfill
starts nothing. The objects are put while the notifications are off (``LocalStack.preload``: the bucket's
notification configuration removed, then put back, through the emulated S3 API), as an operator's bucket
without them would be."""

import json
import time

import pytest

from tests.support.images import photo
from tests.support.pipeline import Pipeline, pipeline_stack

# 300 objects took over 150 s on 2 cores here (each image goes through the real engine): 49 objects run in
# about 110 s; the listing past 1,000 objects is tested in tests/local_stack/aws/test_distributed_map.py.
IMAGES, NOT_IMAGES, OTHER_SUFFIX, NOTIFIED = 40, 3, 3, 3


@pytest.fixture(scope="module")
def pipeline():
    with pipeline_stack() as pipeline:
        yield pipeline


def backfill(pipeline: Pipeline, name: str, prefix: str = "", timeout: float = 120) -> dict:
    """Start the backfill as the CLI does, wait for it to end; its map run's description."""
    outputs = pipeline.stack.outputs
    arn = pipeline.sfn.start_execution(
        stateMachineArn=outputs["BackfillStateMachineArn"], name=name, input=json.dumps({"prefix": prefix})
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while (execution := pipeline.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the backfill is still running"
        time.sleep(0.2)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    [map_run] = pipeline.sfn.list_map_runs(executionArn=arn)["mapRuns"]
    return pipeline.sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])


def executions(pipeline: Pipeline) -> list[dict]:
    paginator = pipeline.sfn.get_paginator("list_executions")
    pages = paginator.paginate(stateMachineArn=pipeline.stack.outputs["StateMachineArn"])
    return [e for page in pages for e in page["executions"]]


def outcomes(pipeline: Pipeline, keys: list[str], timeout: float = 150) -> dict[str, list[str]]:
    """Each key's outputs (cutout and/or failure record), once every key has one and nothing runs."""
    deadline = time.monotonic() + timeout
    while True:
        pipeline.stack.aws.settle(timeout)
        written = set(pipeline.output_keys())
        found = {
            key: [k for k in (pipeline.output_key(key), pipeline.failure_key(key)) if k in written]
            for key in keys
        }
        running = [e for e in executions(pipeline) if e["status"] == "RUNNING"]
        if all(found.values()) and not running:
            return found
        assert time.monotonic() < deadline, f"{sum(not v for v in found.values())} keys without an outcome"
        time.sleep(0.5)


def test_objects_put_while_notifications_were_off_each_get_one_outcome_and_a_second_backfill_costs_nothing(
    pipeline,
):
    notified = [f"uploads/seen/{i}.jpg" for i in range(NOTIFIED)]
    for key in notified:
        assert pipeline.run(key, photo(16, 12)).cutout is not None
    images = [f"uploads/old/{i:03}.jpg" for i in range(IMAGES)]
    not_images = [f"uploads/old/text-{i}.jpg" for i in range(NOT_IMAGES)]
    other_suffix = [f"uploads/old/notes-{i}.txt" for i in range(OTHER_SUFFIX)]
    body = photo(16, 12)

    pipeline.stack.preload(
        [(key, body) for key in images] + [(key, b"not an image") for key in [*not_images, *other_suffix]]
    )
    pipeline.stack.aws.settle(30)
    assert len(executions(pipeline)) == NOTIFIED  # nothing was notified while they were off

    listed = [*notified, *images, *not_images, *other_suffix]
    map_run = backfill(pipeline, "backfill-1")
    counts = map_run["itemCounts"]
    assert (counts["total"], counts["succeeded"], counts["failed"]) == (len(listed), len(listed), 0)
    assert (counts["pending"], counts["running"]) == (0, 0)

    found = outcomes(pipeline, listed)
    assert all(len(outputs) == 1 for outputs in found.values()), "one outcome per key"
    assert all(found[key] == [pipeline.output_key(key)] for key in [*notified, *images])
    records = {r["source"]["key"]: r for r in pipeline.failure_records()}
    assert all("not an image" in records[key]["reason"] for key in not_images)
    assert all("unsupported type: suffix .txt" in records[key]["reason"] for key in other_suffix)
    started = executions(pipeline)
    assert len(started) == NOTIFIED + IMAGES  # one execution per image, the notified ones not again

    again = backfill(pipeline, "backfill-2")
    assert again["itemCounts"]["total"] == len(listed)
    pipeline.stack.aws.settle(60)
    assert len(executions(pipeline)) == len(started)  # the second backfill started nothing
