"""The submission schedule against emulated DynamoDB: the update and condition expressions the pacer
sends are evaluated by a real implementation of DynamoDB's expression language, not by our fake."""

import boto3
import pytest

from cutout.errors import BacklogFullError
from cutout.pacing import SubmissionPacer
from tests.support.fakes import Clock


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def pacer(world, clock):
    table = boto3.resource("dynamodb").Table(world.env["RATE_LIMIT_TABLE"])
    return SubmissionPacer(table, 10, clock=clock)


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
