"""One outcome per key, the newest's (``cutout.outcomes``): a newer upload (by S3's sequencer) or a later
request stands, an older one is replaced, of the same request the cutout stands; writes are conditional,
so a writer that loses a race reads again. And the next reprocess request of a key is the attempt after
its current outcome's."""

import json
from dataclasses import replace

import pytest

from cutout import outcomes
from cutout.failures import record_failure, write_failure_record
from cutout.keys import failure_key, output_key
from cutout.outcomes import cutout_outcome
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


# --- which outcome stands --------------------------------------------------------------------------
RANKS = [
    # (the outcome there, its attempt, the request about to write, its attempt, where the outcome stands)
    (NEWER, 0, UPLOAD, 0, outcomes.NEWER),  # a newer upload, by S3's sequencer
    (UPLOAD, 0, NEWER, 0, outcomes.OLDER),  # an older upload
    (UPLOAD, 0, UPLOAD, 0, outcomes.SAME),  # the same request
    (UPLOAD, 0, PINNED, 1, outcomes.OLDER),  # the upload reprocessed: a later request
    (PINNED, 3, PINNED, 2, outcomes.NEWER),  # a later request of the same upload
    (NEWER, 0, PINNED, 1, outcomes.OLDER),  # order unknown (a request has no sequencer): the latest word
]


@pytest.mark.parametrize(("there", "there_attempt", "source", "attempt", "expected"), RANKS)
def test_rank(there, there_attempt, source, attempt, expected, s3, settings):
    put_cutout(s3, settings, there, there_attempt)
    assert outcomes.rank(cutout_outcome(s3, settings, KEY), source, attempt) == expected


# --- a cutout replaces an older failure record, and gives way to a newer one ---------------------------
@pytest.mark.parametrize(
    ("record", "record_attempt", "cutout", "attempt"),
    [
        (UPLOAD, 0, PINNED, 1),  # the failed upload reprocessed
        (PINNED, 1, PINNED, 2),  # its first reprocess failed too, the second did not
        (UPLOAD, 0, NEWER, 0),  # a newer upload (by sequencer) succeeded
        (UPLOAD, 0, UPLOAD, 0),  # the same request: the success stands
    ],
)
def test_a_cutout_removes_the_failure_record_it_replaces(
    s3, settings, record, record_attempt, cutout, attempt
):
    put_record(s3, settings, record, record_attempt)
    put_cutout(s3, settings, cutout, attempt)
    outcomes.settle_after_cutout(s3, settings, cutout, attempt)
    assert (has_cutout(s3, settings), has_record(s3, settings)) == (True, False)


@pytest.mark.parametrize(
    ("record", "record_attempt", "cutout", "attempt"),
    [
        (NEWER, 0, UPLOAD, 0),  # a newer upload failed meanwhile: the older one's late cutout goes
        (PINNED, 3, PINNED, 2),  # a later request of the same upload failed meanwhile
    ],
)
def test_a_cutout_gives_way_to_a_newer_failure_record(s3, settings, record, record_attempt, cutout, attempt):
    put_record(s3, settings, record, record_attempt)
    put_cutout(s3, settings, cutout, attempt)
    outcomes.settle_after_cutout(s3, settings, cutout, attempt)
    assert (has_cutout(s3, settings), has_record(s3, settings)) == (False, True)


def test_a_record_of_another_key_is_left_alone(s3, settings):
    other = replace(UPLOAD, key="uploads/dog.jpg")
    write_failure_record(s3, settings, other, error="E", reason="r")
    put_cutout(s3, settings, UPLOAD, 0)
    outcomes.settle_after_cutout(s3, settings, UPLOAD, 0)
    assert (settings.output_bucket, failure_key(other.key, settings)) in s3.objects


# --- a failure record replaces an older cutout, and is not written over a newer one --------------------
def test_a_failed_reprocess_replaces_the_cutout_of_an_earlier_request_of_the_same_upload(s3, settings):
    put_cutout(s3, settings, UPLOAD, attempt=0)
    put_record(s3, settings, PINNED, attempt=1)
    assert (has_cutout(s3, settings), has_record(s3, settings)) == (False, True)


def test_a_cutout_written_before_attempts_existed_counts_as_attempt_0(s3, settings):
    put_cutout(s3, settings, replace(UPLOAD, version_id="v1"), attempt=None)  # no attempt, no source-etag
    put_record(s3, settings, PINNED, attempt=1)
    assert not has_cutout(s3, settings)


@pytest.mark.parametrize(
    ("cutout", "cutout_attempt", "source", "attempt"),
    [
        (UPLOAD, 0, UPLOAD, 0),  # the same request's cutout: the success stands
        (NEWER, 0, UPLOAD, 0),  # a newer upload's cutout
        (PINNED, 2, PINNED, 1),  # a later request's cutout
    ],
)
def test_a_failure_record_is_not_written_over_a_newer_outcome(
    s3, settings, cutout, cutout_attempt, source, attempt
):
    put_cutout(s3, settings, cutout, attempt=cutout_attempt)
    put_record(s3, settings, source, attempt)
    assert (has_cutout(s3, settings), has_record(s3, settings)) == (True, False)


def test_a_failure_record_is_not_written_over_a_newer_uploads_record(s3, settings):
    put_record(s3, settings, NEWER, 0)
    before = s3.objects[(settings.output_bucket, failure_key(KEY, settings))]
    put_record(s3, settings, UPLOAD, 0)
    assert s3.objects[(settings.output_bucket, failure_key(KEY, settings))] is before


class RacingS3(FakeS3):
    """Another writer puts a newer upload's record just before this writer's conditional put."""

    def __init__(self, settings) -> None:
        super().__init__()
        self.settings = settings
        self.raced = False

    def put_object(self, **kwargs):
        if not self.raced and kwargs["Key"] == failure_key(KEY, self.settings):
            self.raced = True
            write_failure_record(self, self.settings, NEWER, error="E", reason="the newer upload's")
        return super().put_object(**kwargs)


class ReplacedBeforeDelete(FakeS3):
    """A newer upload's record replaces the old one between this writer's read and its delete."""

    def __init__(self, settings) -> None:
        super().__init__()
        self.settings = settings

    def delete_object(self, **kwargs):
        if kwargs["Key"] == failure_key(KEY, self.settings) and not getattr(self, "raced", False):
            self.raced = True
            FakeS3.put_object(self, Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=b'{"newer": true}')
        return super().delete_object(**kwargs)


def test_a_settle_never_deletes_an_outcome_written_since_it_was_read(settings):
    s3 = ReplacedBeforeDelete(settings)
    put_record(s3, settings, UPLOAD, 0)
    put_cutout(s3, settings, NEWER, 0)
    outcomes.settle_after_cutout(s3, settings, NEWER, 0)
    assert s3.objects[(settings.output_bucket, failure_key(KEY, settings))]["Body"] == b'{"newer": true}'


def test_a_record_that_loses_the_race_to_a_newer_one_reads_again_and_stands_down(settings):
    s3 = RacingS3(settings)
    put_record(s3, settings, UPLOAD, 0)
    record = json.loads(s3.objects[(settings.output_bucket, failure_key(KEY, settings))]["Body"])
    assert record["reason"] == "the newer upload's"


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


def test_a_cutout_is_found_when_only_some_formats_fit_a_key(s3, settings):
    # the PNG's name is S3's longest (1,024 bytes), the WebP's one byte longer: named by a digest instead
    key = settings.input_prefix + "k" * (1020 - len(settings.output_prefix)) + ".jpg"
    assert len(output_key(key, settings).encode()) == 1024
    assert "long-keys/" in output_key(key, settings, ".webp")
    for extension in (".png", ".webp"):
        metadata = {"source-bucket": UPLOAD.bucket, "source-key": key, "source-etag": "e1"}
        s3.put_object(
            Bucket=settings.output_bucket,
            Key=output_key(key, settings, extension),
            Body=extension.encode(),
            Metadata=metadata,
        )
    found = outcomes.cutout_outcomes(s3, settings, key)
    assert [outcome.key for outcome in found] == [output_key(key, settings, e) for e in (".png", ".webp")]


def test_a_folder_that_shares_the_cutouts_name_does_not_spoil_the_listing(s3, settings):
    put_cutout(s3, settings, UPLOAD, attempt=0)
    folder = output_key(KEY, settings).removesuffix("png") + "d/"  # "cutouts/cat.d/": other uploads' cutouts
    for n in range(1001):  # more than a page
        s3.put_object(Bucket=settings.output_bucket, Key=f"{folder}{n}.png", Body=b"png")
    heads = []
    head_object = s3.head_object
    s3.head_object = lambda **kwargs: heads.append(kwargs["Key"]) or head_object(**kwargs)
    [found] = outcomes.cutout_outcomes(s3, settings, KEY)
    assert heads == [found.key] == [output_key(KEY, settings)]  # one listing told: no HEAD per format


def test_a_cutout_its_writer_knows_is_not_read_back_while_the_listing_shows_its_etag(s3, settings):
    put_cutout(s3, settings, UPLOAD, attempt=0)
    etag = s3.head_object(Bucket=settings.output_bucket, Key=output_key(KEY, settings))["ETag"]
    known = outcomes.Outcome.written(output_key(KEY, settings), UPLOAD, 0, etag)
    s3.head_object = None  # any HEAD would fail
    assert outcomes.cutout_outcomes(s3, settings, KEY, known) == [known]


def test_a_cutout_replaced_since_its_writer_wrote_it_is_read_back(s3, settings):
    put_cutout(s3, settings, NEWER, attempt=0)  # over the one written, whose ETag was another
    known = outcomes.Outcome.written(output_key(KEY, settings), UPLOAD, 0, '"what-was-written"')
    [found] = outcomes.cutout_outcomes(s3, settings, KEY, known)
    assert found != known
    assert (found.sequencer, found.revisions) == ("0B", frozenset({"e2"}))


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
