"""The submission schedule: slots spaced under the provider's allowance with a margin for network
jitter, a bound on how far ahead admission may reserve, and a whole-schedule push-back after a 429."""

import itertools
from decimal import Decimal
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from cutout.errors import BacklogFullError, RateLimiterBusyError
from cutout.pacing import MAX_BACKLOG_SECONDS, SubmissionPacer
from cutout_local.provider import max_in_window
from tests.support.fakes import Clock, FakeTable, client_error

PER_MINUTE = 10


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def table():
    return FakeTable()


@pytest.fixture
def pacer(table, clock):
    return SubmissionPacer(table, PER_MINUTE, clock=clock)


def test_back_to_back_reservations_are_one_spacing_apart(pacer, clock):
    slots = [pacer.reserve() for _ in range(5)]
    assert slots[0] == clock.now
    assert [b - a for a, b in itertools.pairwise(slots)] == pytest.approx([pacer.spacing] * 4, abs=1e-5)


def test_no_minute_holds_more_than_the_allowance_when_submissions_arrive_up_to_a_second_late(pacer):
    """The worst case for a sliding minute: the first submission of a run reaches the provider late,
    the eleventh on time. The spacing's margin absorbs up to ``60 * margin`` seconds of such jitter."""
    slots = [pacer.reserve() for _ in range(3 * PER_MINUTE)]
    for late in range(len(slots)):
        arrivals = [slot + (1.0 if i == late else 0.0) for i, slot in enumerate(slots)]
        assert max_in_window(arrivals, 60.0) <= PER_MINUTE


def test_a_reservation_is_one_conditional_write_when_nobody_contends(pacer, table):
    pacer.reserve()
    pacer.reserve()
    assert table.writes == 2


def test_a_slot_is_never_in_the_past_or_before_not_before(pacer, clock):
    pacer.reserve()
    clock.advance(3600)
    assert pacer.reserve() == clock.now
    assert pacer.reserve(not_before=clock.now + 100) == clock.now + 100


def test_admission_refuses_a_slot_beyond_the_backlog_bound_and_reserves_nothing(pacer, table, clock):
    pacer.reserve(not_before=clock.now + MAX_BACKLOG_SECONDS - 1)
    before = dict(table.items)
    with pytest.raises(BacklogFullError, match="away"):
        pacer.reserve()
    assert table.items == before


def test_the_backlog_bound_is_the_callers_to_lift(pacer, clock):
    far = clock.now + 10 * MAX_BACKLOG_SECONDS
    assert pacer.reserve(not_before=far, max_backlog=float("inf")) == far


def test_push_back_moves_the_whole_schedule_but_never_forward(pacer, clock):
    pacer.reserve()
    pacer.push_back(clock.now + 120)
    assert pacer.reserve() == clock.now + 120
    pacer.push_back(clock.now + 10)  # earlier than the schedule already is: no change
    assert pacer.reserve() == clock.now + 120 + pacer.spacing


class ContendedTable(FakeTable):
    """A schedule another submitter writes to as well: before each of our first ``contended`` writes, the
    other one reserves a slot (moves next_free on by ``step``), so our compare-and-set fails."""

    def __init__(self, contended: int, step: float = 6.3) -> None:
        super().__init__()
        self.contended = contended
        self.step = step
        self.reads: list[dict] = []
        self.attempts = 0

    def get_item(self, **kwargs):
        self.reads.append(kwargs)
        return super().get_item(**kwargs)

    def update_item(self, **kwargs):
        self.attempts += 1
        if self.attempts <= self.contended:
            key = kwargs["Key"]["id"]
            current = self.items.get(key, {}).get("next_free", Decimal(str(CLOCK_START)))
            self.items[key] = {"id": key, "next_free": current + Decimal(str(self.step))}
        return super().update_item(**kwargs)


CLOCK_START = 1_800_000_000.0


@pytest.fixture
def slept():
    with mock.patch("cutout.pacing.time.sleep") as sleep:
        yield sleep


def test_spacing_is_the_allowance_widened_by_the_safety_margin(pacer):
    assert pacer.spacing == pytest.approx(6.3)  # 60 s / 10 per minute, 5 % wider


def test_the_first_reservation_starts_the_schedule_one_spacing_ahead(pacer, table, clock):
    assert pacer.reserve() == clock.now
    assert table.items == {
        "novita-submissions": {"id": "novita-submissions", "next_free": Decimal("1800000006.300000")}
    }


def test_the_schedule_is_kept_under_the_limiters_own_id(table, clock):
    pacer = SubmissionPacer(table, PER_MINUTE, clock=clock, limiter_id="other-provider")
    pacer.reserve()
    pacer.reserve()
    assert list(table.items) == ["other-provider"]


def test_the_schedule_is_read_consistently(clock):
    table = ContendedTable(contended=0)
    SubmissionPacer(table, PER_MINUTE, clock=clock).reserve()
    assert table.reads == [{"Key": {"id": "novita-submissions"}, "ConsistentRead": True}]


def test_a_slot_taken_by_another_writer_is_retried_after_a_short_jitter(clock, slept):
    table = ContendedTable(contended=1)
    pacer = SubmissionPacer(table, PER_MINUTE, clock=clock)
    assert pacer.reserve() == clock.now + 6.3  # the other writer took the first slot
    assert table.items["novita-submissions"]["next_free"] == Decimal("1800000012.600000")
    (pause,) = [call.args[0] for call in slept.call_args_list]
    assert 0.005 <= pause <= 0.05


def test_a_reservation_gives_up_after_twenty_contended_attempts(clock, slept):
    table = ContendedTable(contended=100)
    pacer = SubmissionPacer(table, PER_MINUTE, clock=clock)
    with pytest.raises(RateLimiterBusyError) as busy:
        pacer.reserve()
    assert str(busy.value) == "no slot reserved after 20 contended attempts"
    assert (table.attempts, slept.call_count) == (20, 20)


def test_a_reservation_succeeds_on_the_last_attempt(clock, slept):
    table = ContendedTable(contended=19)
    assert SubmissionPacer(table, PER_MINUTE, clock=clock).reserve() == pytest.approx(clock.now + 19 * 6.3)


def test_a_slot_exactly_at_the_backlog_bound_is_still_admitted(pacer, clock):
    assert pacer.reserve(not_before=clock.now + MAX_BACKLOG_SECONDS) == clock.now + MAX_BACKLOG_SECONDS


def test_a_full_backlog_says_how_far_away_the_next_slot_is(pacer, clock):
    pacer.reserve(not_before=clock.now + 100)
    with pytest.raises(BacklogFullError) as full:
        pacer.reserve(max_backlog=60)
    assert str(full.value) == "next submission slot is 106 s away (limit 60 s)"


def test_admission_reserves_no_more_than_twenty_hours_ahead(pacer, clock):
    """Executions time out after 24 h: a slot 20 h away still leaves it time to finish."""
    assert pacer.reserve(not_before=clock.now + 20 * 3600) == clock.now + 20 * 3600
    with pytest.raises(BacklogFullError):
        pacer.reserve(not_before=clock.now + 20 * 3600 + 1)


def test_push_back_to_the_current_schedule_writes_nothing(pacer, table, clock):
    pacer.reserve()
    writes = table.writes
    pacer.push_back(clock.now + 6.3)
    assert table.writes == writes


def test_push_back_of_an_empty_schedule_starts_it_there(pacer, table, clock):
    pacer.push_back(clock.now + 30)
    assert table.items["novita-submissions"]["next_free"] == Decimal("1800000030.000000")


def test_push_back_retries_when_another_writer_moved_the_schedule(clock):
    table = ContendedTable(contended=1, step=10)
    pacer = SubmissionPacer(table, PER_MINUTE, clock=clock)
    pacer.push_back(clock.now + 60)
    assert table.items["novita-submissions"]["next_free"] == Decimal("1800000060.000000")
    assert table.attempts == 2


def test_push_back_gives_up_after_twenty_contended_attempts(clock):
    table = ContendedTable(contended=100, step=1)
    pacer = SubmissionPacer(table, PER_MINUTE, clock=clock)
    with pytest.raises(RateLimiterBusyError) as busy:
        pacer.push_back(clock.now + 1000)
    assert str(busy.value) == "schedule not pushed back after 20 contended attempts"
    assert table.attempts == 20


class FailingTable(FakeTable):
    def update_item(self, **kwargs):
        raise client_error("ProvisionedThroughputExceededException", "UpdateItem")


def test_other_dynamodb_errors_are_not_taken_for_contention(clock, slept):
    pacer = SubmissionPacer(FailingTable(), PER_MINUTE, clock=clock)
    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        pacer.reserve()
    slept.assert_not_called()


class BareErrorTable(FakeTable):
    def update_item(self, **kwargs):
        raise ClientError({}, "UpdateItem")


def test_an_error_without_a_code_is_not_taken_for_contention(clock, slept):
    pacer = SubmissionPacer(BareErrorTable(), PER_MINUTE, clock=clock)
    with pytest.raises(ClientError):
        pacer.reserve()
