"""The submission schedule and the spend guard's daily count against emulated DynamoDB: the update and
condition expressions they send are evaluated by a real implementation of DynamoDB's expression
language, not by our fake; through ``cutout.aws.table``, as the functions make them."""

import boto3
import pytest

from cutout import aws
from cutout.errors import BacklogFullError
from cutout.pacing import SubmissionPacer
from cutout.spending import DailySubmissionCap
from tests.support.fakes import Clock


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def pacer(world, clock):
    return SubmissionPacer(aws.table(world.env["RATE_LIMIT_TABLE"]), 10, clock=clock)


def test_slots_are_taken_one_spacing_apart_from_an_idle_start(pacer):
    start = pacer.reserve()
    assert [pacer.reserve() - start for _ in range(3)] == pytest.approx([6.3, 12.6, 18.9], abs=1e-5)


def test_a_schedule_left_behind_the_clock_restarts_at_now(pacer, clock):
    pacer.reserve()
    clock.advance(3600)
    assert pacer.reserve() == clock.now


def test_the_backlog_bound_refuses_and_none_lifts_it(pacer, clock):
    now = clock.now
    pacer.reserve(not_before=now + 100)
    with pytest.raises(BacklogFullError):
        pacer.reserve(max_backlog=60)
    assert pacer.reserve(max_backlog=None) == pytest.approx(now + 106.3, abs=1e-5)


def test_push_back_moves_the_schedule_only_later(pacer, clock):
    now = clock.now
    pacer.push_back(now + 50)
    pacer.push_back(now + 20)
    assert pacer.reserve() == pytest.approx(now + 50, abs=1e-5)


@pytest.fixture
def cap(world, clock):
    return DailySubmissionCap(aws.table(world.env["RATE_LIMIT_TABLE"]), 2, clock=clock)


def test_the_spend_guard_counts_up_to_its_cap_and_gives_back(cap):
    assert [cap.take(), cap.take(), cap.take()] == [True, True, False]
    cap.give_back()
    assert [cap.take(), cap.take()] == [True, False]


def test_the_spend_guard_counts_each_utc_day_apart_and_lets_the_count_expire(world, cap, clock):
    assert [cap.take(), cap.take()] == [True, True]
    clock.advance(cap.next_day() - clock.now)
    assert cap.take()
    items = boto3.resource("dynamodb").Table(world.env["RATE_LIMIT_TABLE"]).scan()["Items"]
    counts = {item["id"]: (item["submitted"], item["expires_at"]) for item in items if "submitted" in item}
    assert sorted(counted for counted, _ in counts.values()) == [1, 2]
    assert all(expires > clock.now for _, expires in counts.values())


def test_giving_back_on_a_day_with_nothing_counted_changes_nothing(world, cap, clock):
    cap.give_back()
    items = boto3.resource("dynamodb").Table(world.env["RATE_LIMIT_TABLE"]).scan()["Items"]
    assert [item for item in items if "submitted" in item] == []
