"""At scale on the local stack (real template, real state machine, the local provider): a drop behind a
schedule longer than the old 20-hour cap is admitted whole and waits (nothing dead-lettered); past
MaxBacklogDays an upload gets a failure record at once; a 429 storm during a burst is absorbed by
rescheduling, with no failure record and no timed-out execution."""

import itertools
import json
import time

import pytest

from tests.support.images import photo
from tests.support.pipeline import Pipeline, pipeline_stack

LIMITER_ID = "novita-submissions"
OLD_CAP_SECONDS = 20 * 3600  # admission refused slots further ahead than this until issue 9


def schedule(pipeline: Pipeline) -> tuple[object, str]:
    return pipeline.stack.client("dynamodb"), pipeline.stack.aws.resources["RateLimitTable"]


def set_next_free(pipeline: Pipeline, at: float) -> None:
    dynamodb, table = schedule(pipeline)
    dynamodb.put_item(TableName=table, Item={"id": {"S": LIMITER_ID}, "next_free": {"N": f"{at:.6f}"}})


def next_free(pipeline: Pipeline) -> float:
    dynamodb, table = schedule(pipeline)
    item = dynamodb.get_item(TableName=table, Key={"id": {"S": LIMITER_ID}}, ConsistentRead=True)["Item"]
    return float(item["next_free"]["N"])


def dead_lettered(pipeline: Pipeline) -> int:
    sqs = pipeline.stack.client("sqs")
    url = pipeline.stack.outputs["IngestDeadLetterQueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def executions(pipeline: Pipeline) -> list[dict]:
    arn = pipeline.stack.outputs["StateMachineArn"]
    listed = pipeline.sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]
    return [pipeline.sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def failure_records(pipeline: Pipeline) -> list[dict]:
    return pipeline.failure_records()


def test_a_drop_behind_a_schedule_past_the_old_cap_is_admitted_whole_and_waits():
    """Until issue 9 these 30 uploads went back to the queue every 180 s and 25 ended in the DLQ."""
    uploads = 30
    with pipeline_stack(fast_waits=False, per_minute=10, window=60.0) as pipeline:
        ahead = time.time() + OLD_CAP_SECONDS + 3600
        set_next_free(pipeline, ahead)
        for i in range(uploads):
            pipeline.stack.upload(f"uploads/drop/{i:03d}.jpg", photo(48, 32))
        pipeline.stack.aws.settle(120)
        waiting = executions(pipeline)
        slots = sorted(json.loads(e["input"])["slot"]["at"] for e in waiting)
        spacing = 60.0 / 10 * 1.05
        assert (len(waiting), {e["status"] for e in waiting}) == (uploads, {"RUNNING"})
        assert slots[0] == pytest.approx(ahead, abs=1e-3)
        assert [b - a for a, b in itertools.pairwise(slots)] == pytest.approx(
            [spacing] * (uploads - 1), abs=1e-3
        )
        assert next_free(pipeline) == pytest.approx(ahead + uploads * spacing, abs=1e-3)
        assert dead_lettered(pipeline) == 0
        assert failure_records(pipeline) == []
        assert not [i for i in pipeline.stack.aws.invocations if i.error is not None]


def test_past_max_backlog_days_an_upload_gets_a_failure_record_at_once_and_nothing_is_dead_lettered():
    with pipeline_stack(parameters={"MaxBacklogDays": "1"}) as pipeline:
        set_next_free(pipeline, time.time() + 2 * 86400)
        outcome = pipeline.run("uploads/too-late.jpg", photo())
        assert outcome.execution is None
        assert outcome.cutout is None
        assert outcome.failure["error"] == "BacklogFullError"
        assert outcome.failure["reason"].startswith(
            "not admitted: the submission schedule is full for longer than MaxBacklogDays (1) allows"
        )
        assert dead_lettered(pipeline) == 0
        assert pipeline.provider_stats().get("accepted", 0) == 0


def test_a_429_storm_during_a_burst_ends_in_cutouts_only():
    """A third of the submissions are refused with Retry-After 1 s: each is rescheduled, the schedule
    pushed back, and every upload still ends as a cutout; no failure record, no TIMED_OUT execution."""
    uploads, limit, window = 40, 10, 1.0
    with pipeline_stack(fast_waits=False, per_minute=limit, window=window) as pipeline:
        pipeline.stack.provider.faults.update(submit_429_rate=0.33, submit_429_retry_after=1, seed=9)
        keys = [f"uploads/storm/{i:03d}.jpg" for i in range(uploads)]
        for key in keys:
            pipeline.stack.upload(key, photo(48, 32))
        ended = pipeline.stack.aws.wait_for_executions(uploads, timeout=300)
        stats = pipeline.provider_stats()
        assert stats["responses_429"] >= 5  # a storm happened
        assert {e["status"] for e in ended} == {"SUCCEEDED"}
        assert len(ended) == uploads
        assert failure_records(pipeline) == []
        assert {pipeline.output_key(k) for k in keys} <= set(pipeline.output_keys())
        assert stats["accepted"] == uploads
        assert dead_lettered(pipeline) == 0
