"""The fault-matrix rows that need a stack of their own (other template parameters, a patched emulator)."""

from unittest import mock

import pytest
from moto.core.exceptions import JsonRESTError
from moto.secretsmanager.models import SecretsManagerBackend

from cutout_local.stack import LocalStack
from tests.e2e.conftest import Pipeline
from tests.e2e.test_fault_matrix import CUTOUT, OWN_STACK_ROWS, assert_one_outcome, run_row
from tests.images import photo


@pytest.mark.parametrize(
    ("row", "faults", "parameters", "expected"), OWN_STACK_ROWS, ids=[r[0] for r in OWN_STACK_ROWS]
)
def test_fault_matrix_with_parameters(row, faults, parameters, expected):
    with LocalStack(fast_waits=True, per_minute=6000, sqs_poll_seconds=None, parameters=parameters) as stack:
        run_row(Pipeline(stack), row, faults, expected)


def test_secrets_manager_unavailable_is_retried_to_a_cutout():
    original = SecretsManagerBackend.get_secret_value
    calls = {"count": 0}

    def flaky(self, *args, **kwargs):
        calls["count"] += 1
        if calls["count"] <= 4:  # more than botocore's own 3 attempts: the state machine must retry too
            error = JsonRESTError("InternalServiceError", "injected outage")
            error.code = 500
            raise error
        return original(self, *args, **kwargs)

    with LocalStack(fast_waits=True, per_minute=6000, sqs_poll_seconds=None) as stack:
        pipeline = Pipeline(stack)
        with mock.patch.object(SecretsManagerBackend, "get_secret_value", flaky):
            outcome = pipeline.run("uploads/secret-outage.jpg", photo())
        sleeps = list(stack.aws.retry_sleeps)
    assert calls["count"] > 4
    assert sleeps  # the state machine's Retry, not only botocore's
    assert_one_outcome(pipeline, outcome, CUTOUT, 0)
