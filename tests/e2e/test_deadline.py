"""Real time must pass for a deadline: its own stack, with real waits (not the module's fast one)."""

from tests.support.images import photo
from tests.support.pipeline import pipeline_stack


def test_a_task_that_never_finishes_hits_the_deadline():
    with pipeline_stack(
        fast_waits=False, sqs_poll_seconds=1.0, parameters={"MaxTaskWaitSeconds": "10"}
    ) as pipeline:
        pipeline.stack.provider.faults.update(task_hang_next=1)
        outcome = pipeline.run("uploads/forever.jpg", photo(), timeout=40)
    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "TaskDeadlineExceededError"
    assert outcome.failure["error"] == "TaskDeadlineExceededError"
    assert "after 1" in outcome.failure["reason"]  # "still PROCESSING after 10 s (MaxTaskWaitSeconds 10)"
    assert outcome.failure["task_id"]
