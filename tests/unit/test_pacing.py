"""The submission schedule: slots spaced under the provider's allowance with a margin for network
jitter, a bound on how far ahead admission may reserve, and a whole-schedule push-back after a 429."""

import itertools
import threading
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from cutout.errors import BacklogFullError, RateLimiterBusyError
from cutout.pacing import LATE_SLOT_GRACE_SECONDS, SubmissionPacer
from cutout_local.provider import max_in_window
from tests.support.fakes import Clock, FakeTable, client_error

PER_MINUTE = 10
BOUND = 14 * 86400  # the template's default MaxBacklogDays, as admission passes it


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
    pacer.reserve(not_before=clock.now + BOUND - 1)
    before = dict(table.items)
    with pytest.raises(BacklogFullError, match="away"):
        pacer.reserve(max_backlog=BOUND)
    assert table.items == before


def test_without_a_bound_a_slot_is_reserved_however_far_away(pacer, clock):
    far = clock.now + 10 * BOUND
    assert pacer.reserve(not_before=far) == far
    assert pacer.reserve(not_before=far, max_backlog=None) == far + pacer.spacing


def test_push_back_moves_the_whole_schedule_but_never_forward(pacer, clock):
    pacer.reserve()
    pacer.push_back(clock.now + 120)
    assert pacer.reserve() == clock.now + 120
    pacer.push_back(clock.now + 10)  # earlier than the schedule already is: no change
    assert pacer.reserve() == clock.now + 120 + pacer.spacing


class RacingTable(FakeTable):
    """A schedule another submitter restarts just before each of our first ``races`` restarts."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    def update_item(self, **kwargs):
        if kwargs["UpdateExpression"] == "SET next_free = :next" and self.races:
            self.races -= 1
            super().update_item(**kwargs)  # the other writer's identical restart lands first
        return super().update_item(**kwargs)


class StuckTable(FakeTable):
    """A table that refuses every conditional write whatever its item says (misbehaving)."""

    def update_item(self, **kwargs):
        self.requests += 1
        raise client_error("ConditionalCheckFailedException", "UpdateItem")


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


def test_an_idle_schedule_is_restarted_after_one_refused_take_without_a_read(pacer, table, clock):
    pacer.reserve()
    clock.now += 3600  # idle: an hour behind the clock
    reads, requests = len(table.reads), table.requests
    assert pacer.reserve() == clock.now
    # the refused take says where the schedule stood (ReturnValuesOnConditionCheckFailure): no GetItem
    assert (len(table.reads), table.requests) == (reads, requests + 2)


def test_a_schedule_too_far_ahead_is_refused_from_what_the_refused_take_saw(pacer, table, clock):
    pacer.reserve()
    table.items["novita-submissions"]["next_free"] = Decimal(clock.now + 7200)
    with pytest.raises(BacklogFullError, match=r"^the next free submission slot is 7200 s away"):
        pacer.reserve(max_backlog=3600)
    assert table.reads == []


def test_a_busy_schedule_is_taken_in_one_write_without_reading(pacer, table):
    pacer.reserve()
    reads, requests = len(table.reads), table.requests
    pacer.reserve()
    assert (len(table.reads), table.requests) == (reads, requests + 1)


def test_a_restart_lost_to_another_writer_takes_the_next_slot(clock):
    table = RacingTable(races=1)
    pacer = SubmissionPacer(table, PER_MINUTE, clock=clock)
    assert pacer.reserve() == pytest.approx(clock.now + 6.3)  # the other writer has the first slot
    assert table.items["novita-submissions"]["next_free"] == Decimal("1800000012.600000")


def test_a_reservation_gives_up_when_the_table_never_takes_a_write(clock):
    table = StuckTable()
    with pytest.raises(RateLimiterBusyError) as busy:
        SubmissionPacer(table, PER_MINUTE, clock=clock).reserve()
    assert str(busy.value) == "no slot reserved after 5 attempts"
    assert table.requests == 10  # each attempt: one take, one restart


def test_concurrent_admitters_get_distinct_slots_one_spacing_apart_and_never_busy(clock):
    """Real threads against a table that, like DynamoDB, applies each write to the item atomically."""
    table = AtomicTable()
    pacer = SubmissionPacer(table, PER_MINUTE, clock=clock)
    slots: list[float] = []

    def admit() -> None:
        for _ in range(20):
            slots.append(pacer.reserve())

    threads = [threading.Thread(target=admit) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slots) == len(set(slots)) == 1000
    gaps = [b - a for a, b in itertools.pairwise(sorted(slots))]
    assert min(gaps) == pytest.approx(pacer.spacing, abs=1e-5)
    assert table.requests <= 1000 + 2  # one write each; at most the first restart raced


class AtomicTable(FakeTable):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def update_item(self, **kwargs):
        with self._lock:
            return super().update_item(**kwargs)


def test_a_slot_exactly_at_the_backlog_bound_is_still_admitted(pacer, clock):
    assert pacer.reserve(not_before=clock.now + BOUND, max_backlog=BOUND) == clock.now + BOUND


def test_a_full_backlog_says_how_far_away_the_next_slot_is(pacer, clock):
    pacer.reserve(not_before=clock.now + 100)
    with pytest.raises(BacklogFullError) as full:
        pacer.reserve(max_backlog=60)
    assert str(full.value) == "the next free submission slot is 106 s away (limit 60 s)"


def test_a_not_before_past_the_bound_is_refused_without_a_write_even_on_an_idle_schedule(pacer, table, clock):
    with pytest.raises(BacklogFullError) as full:
        pacer.reserve(not_before=clock.now + 61, max_backlog=60)
    assert str(full.value) == "the earliest slot allowed is 61 s away (limit 60 s)"
    assert table.requests == 0
    assert pacer.reserve(not_before=clock.now + 60, max_backlog=60) == clock.now + 60


def test_push_back_to_the_current_schedule_writes_nothing(pacer, table, clock):
    pacer.reserve()
    writes = table.writes
    pacer.push_back(clock.now + 6.3)
    assert table.writes == writes


def test_push_back_of_an_empty_schedule_starts_it_there(pacer, table, clock):
    pacer.push_back(clock.now + 30)
    assert table.items["novita-submissions"]["next_free"] == Decimal("1800000030.000000")


def test_push_back_leaves_a_schedule_that_already_starts_later(pacer, table, clock):
    pacer.push_back(clock.now + 100)
    pacer.push_back(clock.now + 60)
    assert table.items["novita-submissions"]["next_free"] == Decimal("1800000100.000000")


class FailingTable(FakeTable):
    def update_item(self, **kwargs):
        raise client_error("ProvisionedThroughputExceededException", "UpdateItem")


def test_other_dynamodb_errors_are_not_taken_for_contention(clock):
    pacer = SubmissionPacer(FailingTable(), PER_MINUTE, clock=clock)
    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        pacer.reserve()


class BareErrorTable(FakeTable):
    def update_item(self, **kwargs):
        raise ClientError({}, "UpdateItem")


def test_an_error_without_a_code_is_not_taken_for_contention(clock):
    pacer = SubmissionPacer(BareErrorTable(), PER_MINUTE, clock=clock)
    with pytest.raises(ClientError):
        pacer.reserve()


def test_a_schedule_a_little_behind_the_clock_is_taken_in_one_write_not_restarted(pacer, table, clock):
    pacer.reserve()
    requests, reads = table.requests, len(table.reads)
    clock.advance(pacer.spacing + LATE_SLOT_GRACE_SECONDS - 0.1)  # next_free is 0.4 s in the past
    assert pacer.reserve() == pytest.approx(clock.now - LATE_SLOT_GRACE_SECONDS + 0.1, abs=1e-5)
    assert (table.requests - requests, len(table.reads) - reads) == (1, 0)


def test_a_schedule_further_behind_the_clock_restarts_at_now(pacer, clock):
    pacer.reserve()
    clock.advance(pacer.spacing + LATE_SLOT_GRACE_SECONDS + 0.1)
    assert pacer.reserve() == clock.now


def test_the_grace_never_gives_a_slot_before_not_before(pacer, clock):
    pacer.reserve()
    clock.advance(pacer.spacing + 0.2)  # within the grace of now, but before not_before
    assert pacer.reserve(not_before=clock.now) == clock.now


class SlowRacingTable(RacingTable):
    """A racing table whose every call takes 3 s of the clock (a very slow network, or an emulator)."""

    def __init__(self, races: int, clock: Clock) -> None:
        super().__init__(races)
        self.clock = clock

    def get_item(self, **kwargs):
        self.clock.advance(3.0)
        return super().get_item(**kwargs)

    def update_item(self, **kwargs):
        self.clock.advance(3.0)
        return super().update_item(**kwargs)


def test_a_reservation_that_loses_a_restart_race_takes_the_next_slot_however_slow_its_calls(clock):
    """The schedule the other writer restarted is behind the clock again by the time we look, and it is
    restarted again before each of our restarts: the second round still takes the slot after theirs."""
    table = SlowRacingTable(races=5, clock=clock)
    pacer = SubmissionPacer(table, PER_MINUTE, clock=clock)
    start = clock.now
    assert pacer.reserve() == pytest.approx(start + pacer.spacing)
    assert table.races == 4  # one lost restart, then one take
