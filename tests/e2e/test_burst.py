"""A burst larger than the allowance drains at the allowed rate: 100 uploads against a provider that
takes 10 images per window, the minute compressed to 1 s (the template's SubmissionsPerMinute becomes
600). Real waits: the Wait states are what paces the executions."""

import time

import pytest

from cutout.pacing import SAFETY_MARGIN
from cutout.sending import MAX_SLOT_SLEEP_SECONDS
from cutout_local.provider import max_in_window
from tests.support.images import photo
from tests.support.pipeline import pipeline_stack

UPLOADS = 100
LIMIT, WINDOW = 10, 1.0
# Two SubmitFunction invocations at a time, the template's least. The compressed minute spaces slots
# 105 ms apart, and on the local stack (every function a process, two cores) an AWS call can take a few
# hundred ms (on AWS a few ms). With the default (IngestMaximumConcurrency 10, 8 environments here) some
# uploads were left to the queue's 180 s VisibilityTimeout (RateLimiterBusyError, 2-6 of 100); after the
# pacer's fix (one clock reading per reservation) the default run still did not end within 300 s on the
# 2-core machine, cause not yet established (issue 9's note): this test keeps two admitters.
ADMITTERS = 2


@pytest.fixture(scope="module")
def burst():
    parameters = {"IngestMaximumConcurrency": str(ADMITTERS)}
    with pipeline_stack(fast_waits=False, per_minute=LIMIT, window=WINDOW, parameters=parameters) as pipeline:
        stack = pipeline.stack
        started = time.monotonic()
        keys = [f"uploads/burst/{i:03d}.jpg" for i in range(UPLOADS)]
        for key in keys:
            stack.upload(key, photo(48, 32))
        executions = stack.aws.wait_for_executions(UPLOADS, timeout=300)
        yield pipeline, keys, executions, time.monotonic() - started


def test_the_provider_saw_no_window_over_its_limit(burst):
    pipeline, _, _, _ = burst
    stats = pipeline.provider_stats()
    assert max_in_window(stats["accepted_at"], WINDOW) <= LIMIT
    # Paced, not a 429 storm. The slots are 105 ms apart in a 1-s window, so a Send the local stack starts
    # 50 ms late (two cores, every function a process, a Wait woken by a thread) puts 11 submissions in a
    # window and draws one 429, which puts that image back in the schedule; the minute of a deployment
    # spaces slots 6.3 s apart. Fresh-clone CI runs saw 7 of them once in four runs (stop 23), else <= 5.
    assert stats["responses_429"] <= UPLOADS // 10, stats["responses_429"]


def test_every_upload_ends_with_exactly_one_outcome_and_no_duplicates(burst):
    pipeline, keys, executions, _ = burst
    outputs = set(pipeline.output_keys())
    assert len(executions) == UPLOADS
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    assert {pipeline.output_key(k) for k in keys} <= outputs
    assert not [o for o in outputs if o.startswith(pipeline.settings.failure_prefix)]
    assert pipeline.provider_stats()["accepted"] == UPLOADS  # one submission per upload


def test_the_burst_drains_at_the_allowed_rate(burst):
    pipeline, _, _, seconds = burst
    accepted = sorted(pipeline.provider_stats()["accepted_at"])
    span = accepted[-1] - accepted[0]
    spacing = WINDOW / LIMIT
    assert span >= (UPLOADS - 1) * spacing * 0.95  # not faster than allowed...
    # ...and it keeps draining. SendFunction sleeps up to MAX_SLOT_SLEEP_SECONDS to reach its slot to the
    # sub-second; those sleeps overlap as on AWS, but only up to the function's environments on the local
    # stack (8), past which an invocation waits for one: the bound is all of them in a row, the worst case.
    assert span <= (UPLOADS - 1) * (spacing * (1 + SAFETY_MARGIN) + MAX_SLOT_SLEEP_SECONDS)
    assert seconds < 240
