"""Issue 4's fault matrix: one provider or AWS fault per row, each with its asserted outcome, and in
every row exactly one outcome for the upload (a cutout xor a failure record) and the exact number of
submissions (one, or none when the provider never took the image). Issue 10's rows: outages and billing
refusals end as cutouts once the provider answers again, and in failure records only past
MaxProviderOutageSeconds.
The rows run in tests/e2e/test_fault_matrix.py (on the module's stack) and, those with template
parameters of their own, in tests/e2e/test_fault_matrix_own_stack.py."""

import time

from tests.support.images import photo
from tests.support.pipeline import Outcome, Pipeline

CUTOUT = ("cutout", None, 1)  # a cutout, after exactly one submission


def failure(error: str, submissions: int = 1) -> tuple[str, str, int]:
    """A failure record naming ``error``, after exactly ``submissions`` submissions (0 or 1)."""
    return ("failure", error, submissions)


# Outages on a compressed clock: probes at most 2 s apart, an outage waited out for 10 s.
OUTAGE_CLOCK = {"ProviderProbeMaxSeconds": "2", "MaxProviderOutageSeconds": "10"}


# (row id, provider faults, template parameters, expected outcome)
ROWS = [
    ("429 with Retry-After", {"submit_429_next": 2, "submit_429_retry_after": 1}, {}, CUTOUT),
    ("429 without Retry-After", {"submit_429_next": 2, "submit_429_retry_after": None}, {}, CUTOUT),
    ("500 on submit", {"submit_5xx_next": 2, "submit_5xx_status": 500}, {}, CUTOUT),
    ("503 on submit", {"submit_5xx_next": 2, "submit_5xx_status": 503}, {}, CUTOUT),
    ("503 on task-result", {"poll_5xx_next": 3, "poll_5xx_status": 503}, {}, CUTOUT),
    ("connection reset", {"reset_next": 2}, {}, CUTOUT),
    ("billing refusal, then topped up", {"billing_next": 2}, {}, CUTOUT),
    ("502 on every poll for a while", {"poll_5xx_next": 3, "poll_5xx_status": 502}, {}, CUTOUT),
    ("503 on result downloads", {"download_5xx_next": 2}, {}, CUTOUT),
    (
        "provider down past MaxProviderOutageSeconds",
        {"submit_5xx_rate": 1.0},
        OUTAGE_CLOCK,
        failure("ProviderOutageError", submissions=0),
    ),
    (
        "billing refused past MaxProviderOutageSeconds",
        {"billing_rate": 1.0},
        OUTAGE_CLOCK,
        failure("ProviderOutageError", submissions=0),
    ),
    ("malformed JSON", {"poll_malformed_next": 2}, {}, CUTOUT),
    ("unknown task status", {"poll_unknown_status_next": 3}, {}, CUTOUT),
    (
        "submission unanswered in time: not resubmitted",
        {"latency_seconds": 2.0},
        {"ProviderTimeoutSeconds": "1"},
        failure("ProviderSubmitUncertainError"),
    ),
    (
        "task-result answered too late: the poll is retried",
        {"poll_latency_next": 1, "poll_latency_seconds": 2.5},
        {"ProviderTimeoutSeconds": "1"},
        CUTOUT,
    ),
    ("task FAILED", {"task_fail_next": 1}, {}, failure("ProviderTaskFailedError")),
    ("result URL 403", {"download_expired_next": 1}, {}, failure("ResultDownloadError")),
    ("result URL 404", {"download_broken_next": 1}, {}, failure("ResultDownloadError")),
    ("result URL expires early", {"download_expire_after_seconds": 0.01}, {}, failure("ResultDownloadError")),
    ("result is not an image", {"download_not_image_next": 1}, {}, failure("ResultRejectedError")),
    (
        "result over the size cap",
        {"download_inflated_next": 1, "download_inflated_bytes": 3 * 1024 * 1024},
        {"MaxResultBytes": str(1024 * 1024)},
        failure("ResultRejectedError"),
    ),
    (
        "result host not allowed",
        {},
        {"ResultUrlAllowedHosts": "*.amazonaws.com"},
        failure("ResultRejectedError"),
    ),
]


SHARED_ROWS = [r for r in ROWS if not r[2]]
OWN_STACK_ROWS = [r for r in ROWS if r[2]]  # other template parameters: test_fault_matrix_own_stack.py


def assert_one_outcome(pipeline: Pipeline, outcome: Outcome, expected: tuple, accepted_before: int) -> None:
    kind, error, submissions = expected
    if kind == "cutout":
        assert outcome.execution["status"] == "SUCCEEDED"
        assert outcome.cutout is not None
        assert outcome.failure is None
    else:
        assert outcome.execution["status"] == "FAILED"
        assert outcome.cutout is None
        assert outcome.failure["error"] == error, outcome.failure
        assert outcome.failure["reason"]
    # A submission left unanswered (the latency rows) is counted by the provider when it answers, late.
    deadline = time.monotonic() + 5
    while pipeline.provider_stats().get("accepted", 0) < accepted_before + submissions:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert pipeline.provider_stats().get("accepted", 0) == accepted_before + submissions


def run_row(pipeline: Pipeline, row: str, faults: dict, expected: tuple) -> None:
    pipeline.stack.provider.faults.reset()
    accepted_before = pipeline.provider_stats().get("accepted", 0)
    pipeline.stack.provider.faults.update(**faults)
    key = "uploads/fault-" + row.replace(" ", "-") + ".jpg"
    outcome = pipeline.run(key, photo(), timeout=120)
    pipeline.stack.provider.faults.reset()
    assert_one_outcome(pipeline, outcome, expected, accepted_before)
