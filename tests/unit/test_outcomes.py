"""One outcome per key: a cutout replaces the failure record of the same upload (or of an older one),
a reprocess request's failure record replaces the cutout of an earlier request of the same upload; and
the next reprocess request of a key is the attempt after its current outcome's."""

import json
from dataclasses import replace

import pytest

from cutout.failures import record_failure, write_failure_record
from cutout.keys import failure_key, output_key
from cutout.outcomes import cutout_outcome, remove_replaced_cutout, remove_replaced_failure_record
from cutout.reprocessing import Target, next_attempt, request_reprocess
from cutout.state import FailureRequest, SourceObject
from tests.support.fakes import FakeS3

KEY = "uploads/cat.jpg"
UPLOAD = SourceObject("cutout-input", KEY, version_id=None, etag="e1", sequencer="0A")
# The same upload as a reprocess request pins it: by its version id and ETag, without a sequencer.
PINNED = SourceObject("cutout-input", KEY, version_id="v1", etag="e1")
NEWER = SourceObject("cutout-input", KEY, etag="e2", sequencer="0B")


@pytest.fixture
def s3():
    return FakeS3()


def put_cutout(s3, settings, source: SourceObject, attempt: int | None) -> None:
    metadata = {"source-bucket": source.bucket, "source-key": source.key, "source-version": source.revision}
    if source.etag:
        metadata["source-etag"] = source.etag
    if source.sequencer:
        metadata["source-sequencer"] = source.sequencer
    if attempt is not None:
        metadata["attempt"] = str(attempt)
    s3.put_object(
        Bucket=settings.output_bucket, Key=output_key(KEY, settings), Body=b"png", Metadata=metadata
    )


def put_record(s3, settings, source: SourceObject, attempt: int) -> None:
    write_failure_record(s3, settings, source, error="ProviderTaskFailedError", reason="no", attempt=attempt)


def has_cutout(s3, settings) -> bool:
    return (settings.output_bucket, output_key(KEY, settings)) in s3.objects


def has_record(s3, settings) -> bool:
    return (settings.output_bucket, failure_key(KEY, settings)) in s3.objects


# --- a cutout replaces a failure record ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("record", "record_attempt", "cutout", "attempt"),
    [
        (UPLOAD, 0, PINNED, 1),  # the failed upload reprocessed
        (PINNED, 1, PINNED, 2),  # its first reprocess failed too, the second did not
        (UPLOAD, 0, NEWER, 0),  # a newer upload (by sequencer) succeeded
    ],
)
def test_a_cutout_removes_the_failure_record_it_replaces(
    s3, settings, record, record_attempt, cutout, attempt
):
    put_record(s3, settings, record, record_attempt)
    remove_replaced_failure_record(s3, settings, cutout, attempt)
    assert not has_record(s3, settings)


@pytest.mark.parametrize(
    ("record", "record_attempt", "cutout", "attempt"),
    [
        (NEWER, 0, UPLOAD, 0),  # a newer upload failed: an older one's late cutout does not hide that
        (PINNED, 3, PINNED, 2),  # a later request of the same upload failed
        (NEWER, 0, PINNED, 1),  # another upload, in an order unknown (a request has no sequencer)
        (replace(UPLOAD, key="uploads/dog.jpg"), 0, UPLOAD, 1),  # not the same key at all
    ],
)
def test_a_cutout_keeps_a_failure_record_it_does_not_replace(
    s3, settings, record, record_attempt, cutout, attempt
):
    s3.put_object(
        Bucket=settings.output_bucket,
        Key=failure_key(KEY, settings),
        Body=json.dumps({"source": record.to_dict(), "attempt": record_attempt}).encode(),
    )
    remove_replaced_failure_record(s3, settings, cutout, attempt)
    assert has_record(s3, settings)


def test_without_a_failure_record_nothing_is_removed(s3, settings):
    remove_replaced_failure_record(s3, settings, UPLOAD, 0)
    assert s3.objects == {}


# --- a reprocess request's failure record replaces the cutout -----------------------------------------
def test_a_failed_reprocess_removes_the_cutout_of_an_earlier_request_of_the_same_upload(s3, settings):
    put_cutout(s3, settings, UPLOAD, attempt=0)
    remove_replaced_cutout(s3, settings, PINNED, attempt=1)
    assert not has_cutout(s3, settings)


def test_a_cutout_written_before_attempts_existed_counts_as_attempt_0(s3, settings):
    put_cutout(s3, settings, replace(UPLOAD, version_id="v1"), attempt=None)  # no attempt, no source-etag
    remove_replaced_cutout(s3, settings, PINNED, attempt=1)
    assert not has_cutout(s3, settings)


@pytest.mark.parametrize(
    ("cutout", "cutout_attempt", "attempt"),
    [
        (UPLOAD, 0, 0),  # an upload's own failure never removes a cutout
        (NEWER, 0, 1),  # the cutout is of another upload
        (PINNED, 2, 1),  # the cutout is of a later request
    ],
)
def test_a_failure_keeps_a_cutout_it_does_not_replace(s3, settings, cutout, cutout_attempt, attempt):
    put_cutout(s3, settings, cutout, attempt=cutout_attempt)
    remove_replaced_cutout(s3, settings, PINNED, attempt=attempt)
    assert has_cutout(s3, settings)


def test_record_failure_writes_the_attempt_and_replaces_the_cutout(s3, settings):
    put_cutout(s3, settings, UPLOAD, attempt=0)
    request = FailureRequest(
        source=PINNED,
        task_id="t1",
        failure={"Error": "ProviderTaskFailedError", "Cause": "no"},
        polls=2,
        attempt=1,
    )
    written = record_failure(s3, settings, request)
    record = json.loads(s3.objects[(written.bucket, written.key)]["Body"])
    assert (record["attempt"], record["error"], record["reason"]) == (1, "ProviderTaskFailedError", "no")
    assert not has_cutout(s3, settings)


def test_the_cutouts_outcome_reads_its_metadata(s3, settings):
    put_cutout(s3, settings, replace(UPLOAD, key=KEY), attempt=4)
    outcome = cutout_outcome(s3, settings, KEY)
    assert outcome is not None
    assert (outcome.attempt, outcome.sequencer, outcome.revisions) == (4, "0A", frozenset({"e1"}))
    assert outcome.is_of(PINNED)


# --- the next attempt ---------------------------------------------------------------------------------
def test_the_first_request_of_a_key_without_an_outcome_is_attempt_1(s3, settings):
    assert next_attempt(s3, settings, KEY) == 1


def test_the_next_attempt_follows_the_failure_record(s3, settings):
    put_record(s3, settings, UPLOAD, attempt=0)
    assert next_attempt(s3, settings, KEY) == 1
    put_record(s3, settings, PINNED, attempt=3)
    assert next_attempt(s3, settings, KEY) == 4


def test_the_next_attempt_follows_the_cutout_and_the_higher_of_both(s3, settings):
    put_cutout(s3, settings, PINNED, attempt=2)
    assert next_attempt(s3, settings, KEY) == 3
    put_record(s3, settings, PINNED, attempt=5)
    assert next_attempt(s3, settings, KEY) == 6


class RecordingSqs:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send_message(self, **kwargs):
        self.sent.append(kwargs)
        return {"MessageId": str(len(self.sent))}


def test_asking_twice_before_the_outcome_asks_for_the_same_attempt(s3, settings):
    put_record(s3, settings, UPLOAD, attempt=0)
    sqs = RecordingSqs()
    target = Target(
        "https://sqs/q", "cutout-input", settings.output_bucket, "uploads/", "cutouts/", "failures/"
    )
    first = request_reprocess(sqs, s3, target, KEY)
    second = request_reprocess(sqs, s3, target, KEY)
    assert first == second
    assert first.attempt == 1
    assert [m["MessageBody"] for m in sqs.sent] == [first.to_message()] * 2
    assert {m["QueueUrl"] for m in sqs.sent} == {"https://sqs/q"}


def test_a_request_may_name_its_version_and_attempt(s3, settings):
    sqs = RecordingSqs()
    target = Target(
        "https://sqs/q", "cutout-input", settings.output_bucket, "uploads/", "cutouts/", "failures/"
    )
    request = request_reprocess(sqs, s3, target, KEY, version_id="v9", attempt=7)
    assert (request.source, request.attempt) == (SourceObject("cutout-input", KEY, version_id="v9"), 7)
