"""SendFunction's work on in-memory S3 presigning, provider, schedule and idempotency store: an early
slot is waited for in the state machine, the sub-second rest here; a submission sets the task id once per
object version; a 429 reschedules the execution and pushes the whole schedule back."""

import json
import time
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from botocore.config import Config

from cutout.errors import ProviderRejectedError
from cutout.novita import NovitaClient
from cutout.observability import logger
from cutout.pacing import SubmissionPacer
from cutout.sending import Sender
from cutout.state import ExecutionState, Poll, Slot, SourceObject
from tests.support.fake_http import FakePoolManager, FakeResponse
from tests.support.fakes import Clock, FakeTable
from tests.support.lambda_context import context
from tests.support.logs import function_log_lines

BUCKET = "cutout-input-123456789012-3f2a9c1e"
KEY = "uploads/my holiday photo(1).jpg"
VERSION = "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
SOURCE = SourceObject(BUCKET, KEY, version_id=VERSION, etag="9b2cf535f27731c974343645a3985328")
TASK_ID = "8f0b7c0e-5b1a-4e0f-9a57-2f3e8d1c6b4a"


class InMemoryPersistence(BasePersistenceLayer):
    """The idempotency table as a dict: a record is put once (while it exists), updated, or deleted."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}

    def _get_record(self, idempotency_key: str) -> DataRecord:
        try:
            return self.records[idempotency_key]
        except KeyError:
            raise IdempotencyItemNotFoundError from None

    def _put_record(self, data_record: DataRecord) -> None:
        existing = self.records.get(data_record.idempotency_key)
        if existing is not None:
            raise IdempotencyItemAlreadyExistsError(old_data_record=existing)
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)


def accepted(task_id: str = TASK_ID) -> FakeResponse:
    return FakeResponse(200, json.dumps({"task_id": task_id}).encode())


def throttled(retry_after: str | None = None) -> FakeResponse:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return FakeResponse(429, b'{"code": 429, "reason": "RATE_LIMIT_EXCEEDED"}', headers)


@pytest.fixture
def s3():
    """A real S3 client signing with SigV4 as ``cutout.aws`` makes it: presigning is computed locally."""
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4"),
    )


class Sending:
    def __init__(self, settings, s3) -> None:
        self.clock = Clock()
        self.slept: list[float] = []
        self.http = FakePoolManager()
        self.table = FakeTable()
        self.pacer = SubmissionPacer(self.table, settings.submissions_per_minute, clock=self.clock)
        self.persistence = InMemoryPersistence()
        self.settings = settings
        idempotency = IdempotencyConfig(expires_after_seconds=2 * 86400, raise_on_no_idempotency_key=True)
        idempotency.register_lambda_context(context())
        self.sender = Sender(
            settings=settings,
            s3=s3,
            novita=NovitaClient(settings.provider_base_url, lambda: "sk-test", self.http),
            pacer=self.pacer,
            persistence=self.persistence,
            idempotency=idempotency,
            clock=self.clock,
            sleep=self.sleep,
        )

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)

    def state(self, slot_in: float, source: SourceObject = SOURCE) -> ExecutionState:
        at = self.clock.now + slot_in
        return ExecutionState.admitted(source, Slot.due(at, self.clock.now))

    def send(self, state: ExecutionState, *answers: FakeResponse) -> ExecutionState:
        self.http.answers.extend(answers)
        return self.sender.send(state)

    def submitted_urls(self) -> list[str]:
        return [json.loads(request["body"])["image"] for request in self.http.requests]


@pytest.fixture
def sending(settings, s3):
    return Sending(settings, s3)


# --- the slot -----------------------------------------------------------------------------------------
def test_a_slot_more_than_a_second_and_a_half_away_is_rescheduled_without_submitting(sending):
    state = sending.state(slot_in=2.0)
    result = sending.send(state)
    assert result == state.rescheduled(Slot(at=state.slot.at, wait_seconds=2))
    assert (sending.http.requests, sending.slept, sending.table.writes) == ([], [], 0)


def test_a_rescheduled_execution_waits_the_whole_seconds_left_at_the_time_it_is_seen(sending):
    """The Wait state already waited: what remains is counted from now, not from the admission."""
    state = sending.state(slot_in=30.0)
    sending.clock.advance(12.5)
    assert sending.send(state).slot == Slot(at=state.slot.at, wait_seconds=17)


def test_a_slot_a_second_and_a_half_away_is_slept_for_and_submitted(sending):
    result = sending.send(sending.state(slot_in=1.5), accepted())
    assert sending.slept == [1.5]
    assert result.task_id == TASK_ID


def test_the_sub_second_rest_of_the_way_is_slept_before_submitting(sending):
    state = sending.state(slot_in=0.6)
    result = sending.send(state, accepted())
    assert sending.slept == [pytest.approx(0.6)]
    assert result.submitted_at == pytest.approx(state.slot.at)


@pytest.mark.parametrize("slot_in", [0.0, -40.0])
def test_a_slot_that_has_come_is_submitted_without_sleeping(sending, slot_in):
    result = sending.send(sending.state(slot_in=slot_in), accepted())
    assert sending.slept == []
    assert result.task_id == TASK_ID


# --- the submission -----------------------------------------------------------------------------------
def test_a_submission_sets_the_task_id_and_time_and_starts_the_polling_afresh(sending):
    state = ExecutionState(SOURCE, Slot(sending.clock.now, 0), Poll("PROCESSING", 8, 4, False, ""))
    result = sending.send(state, accepted())
    assert result == ExecutionState(
        source=SOURCE,
        slot=state.slot,
        poll=Poll.initial(),
        task_id=TASK_ID,
        submitted_at=sending.clock.now,
    )


def test_the_provider_is_given_a_presigned_get_of_the_exact_object_version(sending):
    sending.send(sending.state(slot_in=0.0), accepted())
    [url] = sending.submitted_urls()
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https"
    assert f"{parts.netloc}{parts.path}".endswith(
        f"{BUCKET}.s3.amazonaws.com/uploads/my%20holiday%20photo%281%29.jpg"
    )
    assert query["versionId"] == [VERSION]
    assert query["X-Amz-Signature"]


def test_the_presigned_url_expires_after_the_configured_time(sending):
    sending.send(sending.state(slot_in=0.0), accepted())
    [url] = sending.submitted_urls()
    assert sending.settings.presign_expiry_seconds == 300
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["300"]


def test_an_unversioned_object_is_presigned_without_a_version(sending):
    sending.send(
        sending.state(slot_in=0.0, source=SourceObject(BUCKET, "uploads/a.jpg", etag="e1")), accepted()
    )
    [url] = sending.submitted_urls()
    assert "versionId" not in parse_qs(urlsplit(url).query)


def test_a_submission_counts_one_image_submitted(sending, added_metrics):
    sending.send(sending.state(slot_in=0.0), accepted())
    added_metrics.assert_called_once_with(name="ImagesSubmitted", unit=MetricUnit.Count, value=1)


def test_a_refused_submission_propagates_for_the_state_machine_to_record(sending, added_metrics):
    with pytest.raises(ProviderRejectedError, match="HTTP 400"):
        sending.send(sending.state(slot_in=0.0), FakeResponse(400, b'{"reason": "INVALID_IMAGE"}'))
    added_metrics.assert_not_called()


# --- idempotency --------------------------------------------------------------------------------------
def test_the_same_object_version_sent_twice_is_submitted_once(sending):
    state = sending.state(slot_in=0.0)
    first = sending.send(state, accepted())
    sending.clock.advance(30)
    second = sending.send(state, accepted("another-task"))
    assert len(sending.http.requests) == 1
    assert (second.task_id, second.submitted_at) == (first.task_id, first.submitted_at)


def test_a_submission_is_remembered_for_two_days(sending):
    """Longer than any execution lives: however late a retry of the Send state comes, it submits nothing."""
    sending.send(sending.state(slot_in=0.0), accepted())
    [record] = sending.persistence.records.values()
    assert record.status == "COMPLETED"
    assert record.expiry_timestamp == pytest.approx(time.time() + 2 * 86400, abs=60)


def test_another_version_of_the_same_key_is_submitted_again(sending):
    sending.send(sending.state(slot_in=0.0), accepted())
    newer = SourceObject(BUCKET, KEY, version_id="Xq2.newerVersion", etag="0f0f")
    result = sending.send(sending.state(slot_in=0.0, source=newer), accepted("second-task"))
    assert len(sending.http.requests) == 2
    assert result.task_id == "second-task"


def test_a_throttled_submission_is_submitted_at_its_new_slot(sending):
    """A 429 leaves no idempotency record behind: the rescheduled execution really submits."""
    state = sending.state(slot_in=0.0)
    rescheduled = sending.send(state, throttled("7"))
    sending.clock.advance(rescheduled.slot.wait_seconds)
    result = sending.send(rescheduled, accepted())
    assert (len(sending.http.requests), result.task_id) == (2, TASK_ID)


# --- a 429 --------------------------------------------------------------------------------------------
def test_a_429_with_retry_after_reschedules_the_execution_that_long_ahead(sending):
    state = sending.state(slot_in=0.0)
    result = sending.send(state, throttled("7"))
    assert result == state.rescheduled(Slot(at=sending.clock.now + 7, wait_seconds=7))


def test_a_429_pushes_the_whole_schedule_back_past_the_new_slot(sending):
    now = sending.clock.now
    sending.send(sending.state(slot_in=0.0), throttled("7"))
    assert sending.pacer.reserve() == pytest.approx(now + 7 + sending.pacer.spacing, abs=1e-5)


def test_a_429_without_retry_after_reschedules_one_spacing_ahead(sending):
    state = sending.state(slot_in=0.0)
    result = sending.send(state, throttled())
    spacing = sending.pacer.spacing
    assert spacing == pytest.approx(6.3)
    assert result.slot == Slot(at=pytest.approx(sending.clock.now + spacing, abs=1e-5), wait_seconds=6)
    assert result.task_id is None


def test_a_429_of_retry_after_zero_reschedules_at_once(sending):
    """A Retry-After of 0 is the provider's word, not an absent header: no spacing is added."""
    state = sending.state(slot_in=0.0)
    assert sending.send(state, throttled("0")).slot == Slot(at=sending.clock.now, wait_seconds=0)


def test_a_429_reschedules_after_the_queue_already_waiting_however_long(sending):
    """Already admitted: the backlog bound is for admission, a running execution waits its turn."""
    far = sending.clock.now + 30 * 3600
    sending.pacer.reserve(not_before=far, max_backlog=None)
    result = sending.send(sending.state(slot_in=0.0), throttled("7"))
    assert result.slot.at == pytest.approx(far + sending.pacer.spacing, abs=1e-5)
    assert result.slot.wait_seconds == int(result.slot.at - sending.clock.now)


def test_a_429_counts_a_throttling_not_a_submission(sending, added_metrics):
    sending.send(sending.state(slot_in=0.0), throttled("7"))
    added_metrics.assert_called_once_with(name="ProviderThrottled", unit=MetricUnit.Count, value=1)


# --- the log ------------------------------------------------------------------------------------------
def test_the_lines_logged_after_a_submission_name_its_task(sending):
    logger.clear_state()
    with function_log_lines() as lines:
        sending.send(sending.state(slot_in=0.0), accepted())
    [submitted] = [json.loads(line) for line in lines if "submitted to the provider" in line]
    assert submitted["task_id"] == TASK_ID
