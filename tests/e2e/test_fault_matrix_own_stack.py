"""The fault-matrix rows that need a stack of their own (other template parameters, a patched emulator)."""

from unittest import mock

import pytest
from moto.core.exceptions import JsonRESTError
from moto.s3.models import S3Backend
from moto.secretsmanager.models import SecretsManagerBackend

from tests.support.fault_matrix import CUTOUT, OWN_STACK_ROWS, assert_one_outcome, run_row
from tests.support.images import photo
from tests.support.pipeline import pipeline_stack


@pytest.mark.parametrize(
    ("row", "faults", "parameters", "expected"), OWN_STACK_ROWS, ids=[r[0] for r in OWN_STACK_ROWS]
)
def test_fault_matrix_with_parameters(row, faults, parameters, expected):
    with pipeline_stack(parameters=parameters) as pipeline:
        run_row(pipeline, row, faults, expected)


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

    with pipeline_stack() as pipeline:
        with mock.patch.object(SecretsManagerBackend, "get_secret_value", flaky):
            outcome = pipeline.run("uploads/secret-outage.jpg", photo())
        sleeps = list(pipeline.stack.aws.retry_sleeps)
    assert calls["count"] > 4
    assert sleeps  # the state machine's Retry, not only botocore's
    assert_one_outcome(pipeline, outcome, CUTOUT, 0)


def test_an_object_deleted_between_upload_and_processing_leaves_a_failure_record():
    """The upload's notification is in the queue when the object is deleted (version and all): at its
    first read (GetObject, or HeadObject, which moto makes through it)."""
    original = S3Backend.get_object

    def deleted_first(self, bucket_name, key_name, *args, **kwargs):
        if key_name.endswith("deleted.jpg"):
            bucket = self.get_bucket(bucket_name)
            for version in list(bucket.keys.getlist(key_name, [])):
                self.delete_object(bucket_name, key_name, version_id=version.version_id)
        return original(self, bucket_name, key_name, *args, **kwargs)

    with pipeline_stack() as pipeline:
        with mock.patch.object(S3Backend, "get_object", deleted_first):
            outcome = pipeline.run("uploads/deleted.jpg", photo())
        accepted = pipeline.provider_stats().get("accepted", 0)
    assert outcome.execution is None
    assert outcome.cutout is None
    assert outcome.failure["error"] == "UnsupportedInputError"
    assert "gone" in outcome.failure["reason"]
    assert accepted == 0
