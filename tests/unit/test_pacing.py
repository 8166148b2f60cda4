"""The submission schedule: slots spaced under the provider's allowance with a margin for network
jitter, a bound on how far ahead admission may reserve, and a whole-schedule push-back after a 429."""

import itertools

import pytest

from cutout.errors import BacklogFullError
from cutout.pacing import MAX_BACKLOG_SECONDS, SubmissionPacer
from cutout_local.provider import max_in_window
from tests.support.fakes import Clock, FakeTable

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
