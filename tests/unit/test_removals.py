"""Deleting an upload removes its outputs (cutout.removals, RemoveOutputsOnDelete on): the cutout and the
failure record of the key go only while they are the outcome of what was deleted, on in-memory S3."""

import json

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from cutout.keys import failure_key, output_key
from cutout.removals import remove_outputs
from cutout.state import SourceObject
from tests.support.fakes import FakeS3, client_error


@pytest.fixture
def s3():
    return FakeS3()


def cutout(s3, settings, key="uploads/a.jpg", **source):
    metadata = {"source-bucket": settings.input_bucket, "source-key": key}
    names = {"version_id": "source-version", "etag": "source-etag", "sequencer": "source-sequencer"}
    metadata.update({names[field]: value for field, value in source.items()})
    s3.put_object(
        Bucket=settings.output_bucket, Key=output_key(key, settings), Body=b"png", Metadata=metadata
    )


def failure(s3, settings, key="uploads/a.jpg", **source):
    record = {"source": {"bucket": settings.input_bucket, "key": key, **source}, "error": "X", "attempt": 0}
    s3.put_object(
        Bucket=settings.output_bucket, Key=failure_key(key, settings), Body=json.dumps(record).encode()
    )


def outputs(s3, settings) -> list[str]:
    return sorted(key for bucket, key in s3.objects if bucket == settings.output_bucket)


def removed(settings, key="uploads/a.jpg", **source) -> SourceObject:
    return SourceObject(settings.input_bucket, key, **source)


# --- a version deleted by its id ----------------------------------------------------------------------
def test_a_deleted_versions_cutout_goes(s3, settings, added_metrics):
    cutout(s3, settings, version_id="v1")
    assert remove_outputs(s3, settings, removed(settings, version_id="v1")) == [
        output_key("uploads/a.jpg", settings)
    ]
    assert outputs(s3, settings) == []
    added_metrics.assert_called_once_with(name="OutputsRemoved", unit=MetricUnit.Count, value=1)


def test_a_deleted_versions_failure_record_goes(s3, settings):
    failure(s3, settings, version_id="v1", etag="e1")
    remove_outputs(s3, settings, removed(settings, version_id="v1"))
    assert outputs(s3, settings) == []


def test_the_version_is_recognised_by_its_etag_when_the_outcome_names_no_version(s3, settings):
    """The local stack's notifications carry no version id: its outcomes name the ETag only."""
    cutout(s3, settings, etag="e1")
    remove_outputs(s3, settings, removed(settings, version_id="v1", etag="e1"))
    assert outputs(s3, settings) == []


def test_deleting_an_older_version_leaves_the_newer_versions_outputs(s3, settings, added_metrics):
    cutout(s3, settings, version_id="v2", etag="e2")
    failure(s3, settings, version_id="v2", etag="e2")
    assert remove_outputs(s3, settings, removed(settings, version_id="v1", etag="e1")) == []
    assert len(outputs(s3, settings)) == 2
    added_metrics.assert_not_called()


def test_deleting_a_version_by_its_id_takes_only_its_own_outputs(s3, settings):
    """The record's sequencer is the DELETE's, later than every upload of the key: it says nothing of
    which upload the outputs are of, so only outputs naming the deleted version go."""
    cutout(s3, settings, version_id="v1", sequencer="0A")
    remove_outputs(s3, settings, removed(settings, version_id="v2", sequencer="0B"))
    assert len(outputs(s3, settings)) == 1


def test_deleting_a_version_leaves_a_newer_uploads_outputs_by_sequencer(s3, settings):
    cutout(s3, settings, version_id="v3", sequencer="0C")
    remove_outputs(s3, settings, removed(settings, version_id="v2", sequencer="0B"))
    assert len(outputs(s3, settings)) == 1


def test_outputs_of_another_key_with_the_same_cutout_name_stay(s3, settings):
    """``a.png`` and ``a.jpg`` share the cutout ``a.png``: deleting a.jpg leaves a.png's."""
    cutout(s3, settings, key="uploads/a.png", version_id="v1", sequencer="0A")
    assert output_key("uploads/a.png", settings) == output_key("uploads/a.jpg", settings)
    remove_outputs(s3, settings, removed(settings, key="uploads/a.jpg", version_id="v9", sequencer="0F"))
    assert len(outputs(s3, settings)) == 1


def test_a_deletion_with_no_outputs_removes_nothing(s3, settings):
    assert remove_outputs(s3, settings, removed(settings, version_id="v1")) == []


# --- the key deleted as a whole (a delete marker, or an unversioned bucket) ----------------------------
def test_a_delete_marker_removes_the_keys_outputs_while_the_key_stays_deleted(s3, settings):
    """A delete marker counts as deleting the newest version: whatever version the outputs are of."""
    cutout(s3, settings, version_id="v2", etag="e2")
    failure(s3, settings, version_id="v1")
    remove_outputs(s3, settings, removed(settings))
    assert outputs(s3, settings) == []


def test_a_delete_marker_leaves_the_outputs_of_an_upload_after_it_by_sequencer(s3, settings):
    cutout(s3, settings, version_id="v3", sequencer="0C")
    remove_outputs(s3, settings, removed(settings, sequencer="0B"))
    assert len(outputs(s3, settings)) == 1


def test_once_the_key_holds_an_object_again_a_delete_marker_removes_only_older_uploads(s3, settings):
    """Uploaded again since the delete (the events arrived out of order): the new upload's outputs stay
    unless S3's sequencers say they are older than the delete."""
    s3.put_object(Bucket=settings.input_bucket, Key="uploads/a.jpg", Body=b"new")
    cutout(s3, settings, etag="e-new")
    remove_outputs(s3, settings, removed(settings))
    assert len(outputs(s3, settings)) == 1
    cutout(s3, settings, etag="e-old", sequencer="0A")
    remove_outputs(s3, settings, removed(settings, sequencer="0B"))
    assert outputs(s3, settings) == []


def test_a_transient_error_looking_at_the_key_propagates(s3, settings):
    def slow_down(**_):
        raise client_error("SlowDown", "HeadObject")

    cutout(s3, settings, version_id="v1")
    s3.head_object = slow_down
    with pytest.raises(ClientError, match="SlowDown"):
        remove_outputs(s3, settings, removed(settings))
    assert len(outputs(s3, settings)) == 1
