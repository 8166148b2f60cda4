"""Real time must pass for a deadline: its own stack, with real waits (not the module's fast one)."""

from cutout_local.stack import LocalStack
from tests.e2e.conftest import Pipeline
from tests.support.images import photo


def test_a_task_that_never_finishes_hits_the_deadline():
    with LocalStack(fast_waits=False, per_minute=6000, parameters={"MaxTaskWaitSeconds": "10"}) as stack:
        stack.provider.faults.update(task_hang_next=1)
        outcome = Pipeline(stack).run("uploads/forever.jpg", photo(), timeout=40)
    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "TaskDeadlineExceededError"
    assert outcome.failure["error"] == "TaskDeadlineExceededError"
    assert "after 1" in outcome.failure["reason"]  # "still PROCESSING after 10 s (MaxTaskWaitSeconds 10)"
    assert outcome.failure["task_id"]
