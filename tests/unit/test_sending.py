"""SendFunction's work on in-memory S3 presigning, provider, schedule and idempotency store: an early
slot is waited for in the state machine, the sub-second rest here; a submission sets the task id once per
object version; a 429 reschedules the execution and pushes the whole schedule back."""

import dataclasses
import json
import time
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import urllib3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from botocore.config import Config

from cutout.errors import BacklogFullError, ProviderOutageError, ProviderRejectedError, UnsupportedInputError
from cutout.keys import staging_key
from cutout.novita import NovitaClient
from cutout.observability import logger
from cutout.pacing import SubmissionPacer
from cutout.sending import SPEND_CAP_RETRY_SECONDS, Sender
from cutout.spending import DailySubmissionCap
from cutout.state import ExecutionState, Poll, Slot, SourceObject
from tests.support.fake_http import FakePoolManager, FakeResponse
from tests.support.fakes import Clock, FakeTable, client_error, provider_health
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


def task_result(**task: object) -> FakeResponse:
    body = {"task": {"task_id": TASK_ID, "status": "TASK_STATUS_PROCESSING", "reason": "", **task}}
    return FakeResponse(200, json.dumps({**body, "images": []}).encode())


class ProviderHttp(FakePoolManager):
    """The scripted provider; the look SendFunction takes after submitting, when the script has no
    answer left for it, finds the task running with 20 s to go (a first Wait, nothing slept for it)."""

    def request(self, method: str, url: str, **kwargs):
        if method == "GET" and "/task-result" in url and not self.answers:
            self.answers.append(task_result(eta=20))
        return super().request(method, url, **kwargs)


def throttled(retry_after: str | None = None) -> FakeResponse:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return FakeResponse(429, b'{"code": 429, "reason": "RATE_LIMIT_EXCEEDED"}', headers)


@pytest.fixture
def s3():
    """A real S3 client signing with SigV4 as ``cutout.aws`` makes it: presigning is computed locally."""
    return UploadsS3(
        boto3.client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id="AKIAEXAMPLE",
            aws_secret_access_key="secret",
            config=Config(signature_version="s3v4"),
        )
    )


class UploadsS3:
    """Presigns with a real client (computed locally, no network); HEAD answers from ``etags`` (key ->
    the ETag the key holds now), with S3's If-Match: 412 PreconditionFailed when it differs."""

    def __init__(self, client) -> None:
        self._client = client
        self.etags: dict[str, str] = {}

    def generate_presigned_url(self, *args, **kwargs):
        return self._client.generate_presigned_url(*args, **kwargs)

    def head_object(self, *, Bucket, Key, IfMatch=None, **_):
        etag = self.etags.get(Key)
        if etag is None:
            raise client_error("404", "HeadObject")
        if IfMatch is not None and IfMatch.strip('"') != etag:
            raise client_error("PreconditionFailed", "HeadObject")
        return {"ETag": f'"{etag}"', "ContentLength": 1}


class Sending:
    """One SendFunction; two may share a schedule table and a clock (one deployed after the other)."""

    def __init__(self, settings, s3, table: FakeTable | None = None, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.slept: list[float] = []
        self.http = ProviderHttp()
        self.table = table or FakeTable()
        self.pacer = SubmissionPacer(self.table, settings.submissions_per_minute, clock=self.clock)
        self.cap = DailySubmissionCap(self.table, settings.max_submissions_per_day, clock=self.clock)
        self.health = provider_health("submit", settings, self.table, self.clock)
        self.persistence = InMemoryPersistence()
        self.settings = settings
        idempotency = IdempotencyConfig(expires_after_seconds=2 * 86400, raise_on_no_idempotency_key=True)
        idempotency.register_lambda_context(context())
        self.sender = Sender(
            settings=settings,
            s3=s3,
            novita=NovitaClient(settings.provider_base_url, lambda: "sk-test", self.http),
            pacer=self.pacer,
            cap=self.cap,
            health=self.health,
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
        return ExecutionState.admitted(source, Slot.due(at, self.clock.now), admitted_at=self.clock.now)

    def send(self, state: ExecutionState, *answers: FakeResponse) -> ExecutionState:
        self.http.answers.extend(answers)
        return self.sender.send(state)

    def submitted_urls(self) -> list[str]:
        return [
            json.loads(request["body"])["image"]
            for request in self.http.requests
            if request["method"] == "POST"
        ]


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
    state = ExecutionState(
        SOURCE, Slot(sending.clock.now, 0), Poll("PROCESSING", 8, 4, False, ""), sending.clock.now
    )
    result = sending.send(state, accepted())
    assert result == ExecutionState(
        source=SOURCE,
        slot=state.slot,
        # one look: 20 s to go, approached (60 % of it, less the loop's 0.3 s); known running until 19 s
        poll=Poll("PROCESSING", 11, 1, False, "", unfinished_until=19.0),
        admitted_at=state.admitted_at,
        task_id=TASK_ID,
        submitted_at=sending.clock.now,
    )


def test_the_first_wait_leads_to_where_the_tasks_eta_ends(sending):
    result = sending.send(sending.state(slot_in=0.0), accepted(), task_result(eta=3, progress_percent=10))
    assert (result.poll.status, result.poll.wait_seconds, result.poll.count) == ("PROCESSING", 2, 1)
    assert sending.slept == [pytest.approx(0.45)]  # + the Wait's 2 s + the loop's 0.3 s: 2.75 s after
    assert [r["method"] for r in sending.http.requests] == ["POST", "GET"]


@pytest.mark.parametrize(
    "answer",
    [FakeResponse(503, b'{"code": 503, "reason": "SERVICE_UNAVAILABLE"}'), FakeResponse(200, b"not json")],
)
def test_a_look_after_submitting_that_finds_no_answer_leaves_the_first_wait_blind(sending, answer):
    result = sending.send(sending.state(slot_in=0.0), accepted(), answer)
    assert (result.task_id, result.poll) == (TASK_ID, Poll.initial())


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


def test_an_upload_converted_for_the_provider_is_given_as_its_staged_png(sending):
    """ConvertFunction staged it just before (cutout.conversion): the provider reads the PNG, never the
    HEIC, from the staging prefix of the output bucket."""
    state = dataclasses.replace(sending.state(slot_in=0.0), convert_from="heic")
    result = sending.send(state, accepted())
    [url] = sending.submitted_urls()
    parts = urlsplit(url)
    staged = staging_key(SOURCE, sending.settings)
    assert f"{parts.netloc}{parts.path}".endswith(
        f"{sending.settings.output_bucket}.s3.amazonaws.com/{staged}"
    )
    assert "versionId" not in parse_qs(parts.query)
    assert (result.task_id, result.convert_from) == (TASK_ID, "heic")


def test_an_unversioned_object_is_presigned_without_a_version(sending, s3):
    s3.etags["uploads/a.jpg"] = "e1"
    sending.send(
        sending.state(slot_in=0.0, source=SourceObject(BUCKET, "uploads/a.jpg", etag="e1")), accepted()
    )
    [url] = sending.submitted_urls()
    assert "versionId" not in parse_qs(urlsplit(url).query)


def test_an_unversioned_object_overwritten_before_its_submission_ends_superseded(sending, s3, added_metrics):
    """The provider would read the newer bytes under this upload's name: nothing is submitted, and the
    execution ends (the newer upload has its own)."""
    s3.etags["uploads/a.jpg"] = "newer"
    state = sending.state(slot_in=0.0, source=SourceObject(BUCKET, "uploads/a.jpg", etag="older"))
    result = sending.send(state, accepted())
    assert result == dataclasses.replace(state, superseded=True)
    assert sending.http.requests == []
    added_metrics.assert_called_once_with(name="ImagesSuperseded", unit=MetricUnit.Count, value=1)


def test_an_unversioned_object_deleted_before_its_submission_gets_a_failure_record(sending):
    state = sending.state(slot_in=0.0, source=SourceObject(BUCKET, "uploads/gone.jpg", etag="e1"))
    with pytest.raises(UnsupportedInputError, match="gone or unreadable"):
        sending.send(state, accepted())
    assert sending.http.requests == []


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
    assert len(sending.submitted_urls()) == 1
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
    assert len(sending.submitted_urls()) == 2
    assert result.task_id == "second-task"


def test_a_throttled_submission_is_submitted_at_its_new_slot(sending):
    """A 429 leaves no idempotency record behind: the rescheduled execution really submits."""
    state = sending.state(slot_in=0.0)
    rescheduled = sending.send(state, throttled("7"))
    sending.clock.advance(rescheduled.slot.wait_seconds)
    result = sending.send(rescheduled, accepted())
    assert (len(sending.submitted_urls()), result.task_id) == (2, TASK_ID)


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


def test_a_429_reschedules_after_the_queue_already_waiting_within_the_images_bound(sending):
    """Already admitted: it waits its turn behind everyone, up to MaxBacklogDays after its admission."""
    far = sending.clock.now + 30 * 3600
    sending.pacer.reserve(not_before=far, max_backlog=None)
    result = sending.send(sending.state(slot_in=0.0), throttled("7"))
    assert result.slot.at == pytest.approx(far + sending.pacer.spacing, abs=1e-5)
    assert result.slot.wait_seconds == int(result.slot.at - sending.clock.now)


def test_a_429_counts_a_throttling_not_a_submission(sending, added_metrics):
    sending.send(sending.state(slot_in=0.0), throttled("7"))
    added_metrics.assert_called_once_with(name="ProviderThrottled", unit=MetricUnit.Count, value=1)


# --- an outage (cutout.health) -------------------------------------------------------------------------
def unavailable(status: int = 503, reason: str = "SERVICE_UNAVAILABLE") -> FakeResponse:
    return FakeResponse(status, json.dumps({"code": status, "reason": reason, "message": "m"}).encode())


OUTAGES = {
    "503": unavailable(),
    "502": unavailable(502, "BAD_GATEWAY"),
    "connection refused": urllib3.exceptions.NewConnectionError(None, "refused"),  # type: ignore[arg-type]
    "connect timeout": urllib3.exceptions.ConnectTimeoutError(None, "connect timed out"),  # type: ignore[arg-type]
    "reset": urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
    "billing": unavailable(403, "BILLING_BALANCE_NOT_ENOUGH"),
    "billing, 400": unavailable(400, "BILLING_FAILED"),
}


@pytest.mark.parametrize("answer", OUTAGES.values(), ids=OUTAGES.keys())
def test_an_unavailable_provider_reschedules_the_image_after_the_next_probe(sending, answer):
    now = sending.clock.now
    result = sending.send(sending.state(slot_in=0.0), answer)
    assert result.task_id is None
    assert result.slot == Slot(at=pytest.approx(now + 1, abs=1e-5), wait_seconds=1)  # the first probe
    assert sending.health.outage() is not None
    # the whole schedule starts after the probe: the next image's slot is one spacing after this one
    assert sending.pacer.reserve() == pytest.approx(now + 1 + sending.pacer.spacing, abs=1e-5)


def test_while_the_provider_is_down_a_due_image_waits_without_calling_it(sending):
    sending.send(sending.state(slot_in=0.0, source=version(0)), unavailable())
    sending.clock.advance(0.5)
    result = sending.send(sending.state(slot_in=0.0, source=version(1)))
    assert result.task_id is None
    assert len(sending.submitted_urls()) == 1
    assert result.slot.at >= sending.clock.now + 0.5


def test_the_image_that_probes_submits_and_ends_the_outage(sending):
    waiting = sending.send(sending.state(slot_in=0.0), unavailable())
    sending.clock.advance(waiting.slot.wait_seconds)
    result = sending.send(waiting, accepted())
    assert result.task_id == TASK_ID
    assert sending.health.outage() is None


def test_a_429_to_the_probe_ends_the_outage_too(sending):
    waiting = sending.send(sending.state(slot_in=0.0), unavailable())
    sending.clock.advance(waiting.slot.wait_seconds)
    result = sending.send(waiting, throttled("7"))
    assert result.task_id is None
    assert sending.health.outage() is None


def test_a_billing_refusal_does_not_count_against_the_spend_cap(capped):
    capped.send(capped.state(slot_in=0.0, source=version(0)), unavailable(403, "BILLING_BALANCE_NOT_ENOUGH"))
    assert [capped.cap.take(), capped.cap.take(), capped.cap.take()] == [True, True, False]


def test_past_max_provider_outage_the_image_records_a_failure_that_says_so(sending):
    sending.send(sending.state(slot_in=0.0, source=version(0)), unavailable(403, "BILLING_FAILED"))
    sending.clock.advance(sending.settings.max_provider_outage_seconds + 1)
    sending.health.ask()  # another image holds the due probe
    with pytest.raises(ProviderOutageError) as gave_up:
        sending.send(sending.state(slot_in=0.0, source=version(1)))
    assert str(gave_up.value).startswith("the provider (its submissions) has been unavailable for 14401 s")
    assert str(gave_up.value).endswith("answered HTTP 403: BILLING_FAILED 403 m")
    assert len(sending.submitted_urls()) == 1


def test_an_outage_never_moves_an_image_past_its_own_bound(sending):
    admitted_long_ago = sending.state(slot_in=0.0)
    sending.clock.advance(sending.settings.max_backlog_seconds - 0.5)
    with pytest.raises(BacklogFullError, match=r"^the provider is unavailable \("):
        sending.send(admitted_long_ago, unavailable())


# --- the log ------------------------------------------------------------------------------------------
def test_the_lines_logged_after_a_submission_name_its_task(sending):
    logger.clear_state()
    with function_log_lines() as lines:
        sending.send(sending.state(slot_in=0.0), accepted())
    [submitted] = [json.loads(line) for line in lines if "submitted to the provider" in line]
    assert submitted["task_id"] == TASK_ID


# --- the bound: MaxBacklogDays after admission -------------------------------------------------------
def test_a_429_that_would_push_the_image_past_its_bound_records_a_failure_that_says_so(sending):
    bound = sending.settings.max_backlog_seconds
    sending.pacer.reserve(not_before=sending.clock.now + bound)  # the schedule is full to the bound
    before = dict(sending.table.items)
    with pytest.raises(BacklogFullError) as full:
        sending.send(sending.state(slot_in=0.0), throttled("7"))
    assert str(full.value).startswith(
        "throttled by the provider (429): its next slot would come more than MaxBacklogDays (14) after "
        "it was admitted (the next free submission slot is"
    )
    assert str(full.value).endswith("; nothing was submitted")
    assert sending.table.items == before  # no slot taken past the bound


def test_an_image_admitted_long_ago_gets_its_slot_up_to_exactly_its_bound(sending):
    admitted_long_ago = sending.state(slot_in=0.0)
    sending.clock.advance(sending.settings.max_backlog_seconds - 7)
    result = sending.send(admitted_long_ago, throttled("7"))
    assert result.slot.at == admitted_long_ago.admitted_at + sending.settings.max_backlog_seconds


# --- the spend guard: MaxSubmissionsPerDay ------------------------------------------------------------
def version(n: int) -> SourceObject:
    return SourceObject(BUCKET, f"uploads/{n}.jpg", version_id=f"v{n}")


@pytest.fixture
def capped(settings, s3):
    return Sending(dataclasses.replace(settings, max_submissions_per_day=2), s3)


def test_without_a_cap_nothing_is_counted(sending):
    sending.send(sending.state(slot_in=0.0), accepted())
    assert list(sending.table.items) == []


def test_submissions_past_the_days_cap_wait_in_the_schedule_and_nothing_is_sent(capped, added_metrics):
    for n in range(2):
        assert capped.send(capped.state(slot_in=0.0, source=version(n)), accepted(f"t{n}")).task_id == f"t{n}"
    held = capped.send(capped.state(slot_in=0.0, source=version(2)))
    assert (held.task_id, len(capped.submitted_urls())) == (None, 2)
    assert held.slot == Slot(
        at=capped.clock.now + SPEND_CAP_RETRY_SECONDS, wait_seconds=SPEND_CAP_RETRY_SECONDS
    )
    added_metrics.assert_any_call(name="SubmissionsHeldBySpendCap", unit=MetricUnit.Count, value=1)
    [count] = [item for key, item in capped.table.items.items() if key.startswith("submissions-on#")]
    assert count["submitted"] == 2
    assert count["expires_at"] > capped.clock.now + 2 * 86400


def test_raising_the_cap_resumes_a_held_image_at_its_next_try(capped, settings, s3):
    for n in range(2):
        capped.send(capped.state(slot_in=0.0, source=version(n)), accepted(f"t{n}"))
    held = capped.send(capped.state(slot_in=0.0, source=version(2)))
    raised = Sending(dataclasses.replace(settings, max_submissions_per_day=3), s3, capped.table, capped.clock)
    capped.clock.advance(held.slot.wait_seconds)
    assert raised.send(held, accepted("t2")).task_id == "t2"


def test_the_count_starts_again_when_the_utc_day_turns(capped):
    for n in range(2):
        capped.send(capped.state(slot_in=0.0, source=version(n)), accepted(f"t{n}"))
    capped.clock.advance(capped.cap.next_day() - capped.clock.now)
    assert capped.send(capped.state(slot_in=0.0, source=version(2)), accepted("t2")).task_id == "t2"


def test_an_image_held_just_before_midnight_tries_again_when_the_day_turns(capped):
    capped.clock.advance(capped.cap.next_day() - capped.clock.now - 60)
    for n in range(2):
        capped.send(capped.state(slot_in=0.0, source=version(n)), accepted(f"t{n}"))
    held = capped.send(capped.state(slot_in=0.0, source=version(2)))
    assert held.slot.at == capped.cap.next_day()


def test_a_submission_refused_by_the_provider_gives_its_count_back(capped):
    capped.send(capped.state(slot_in=0.0, source=version(0)), throttled("7"))
    with pytest.raises(ProviderRejectedError):
        capped.send(capped.state(slot_in=0.0, source=version(1)), FakeResponse(400, b'{"reason": "BAD"}'))
    assert [capped.cap.take(), capped.cap.take(), capped.cap.take()] == [True, True, False]


def test_a_submission_whose_fate_is_unknown_keeps_its_count(capped):
    waiting = capped.send(capped.state(slot_in=0.0, source=version(0)), FakeResponse(503, b"{}"))
    assert waiting.task_id is None  # it waits out the outage
    assert [capped.cap.take(), capped.cap.take()] == [True, False]


def test_an_image_held_past_its_bound_records_a_failure_that_names_the_cap(capped):
    admitted_long_ago = capped.state(slot_in=0.0, source=version(2))
    capped.clock.advance(capped.settings.max_backlog_seconds - 10)
    for n in range(2):
        capped.send(capped.state(slot_in=0.0, source=version(n)), accepted(f"t{n}"))
    with pytest.raises(BacklogFullError, match=r"^held by the spend cap \(MaxSubmissionsPerDay 2\)"):
        capped.send(admitted_long_ago)
