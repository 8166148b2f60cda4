"""The spend guard's daily count: one conditional atomic ADD per submission, per UTC day, expired by TTL
two days after the day ends; a refused submission gives its count back."""

import time

import pytest
from botocore.exceptions import ClientError

from cutout.spending import DailySubmissionCap
from tests.support.fakes import Clock, FakeTable, client_error

NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
DAY_START = 1_799_971_200.0  # 2027-01-15 00:00:00 UTC


@pytest.fixture
def table():
    return FakeTable()


@pytest.fixture
def cap(table):
    return DailySubmissionCap(table, 2, clock=Clock(NOW))


def test_the_count_of_a_day_is_one_item_named_by_its_utc_date_and_expiring_two_days_after_it(cap, table):
    assert cap.take()
    assert table.items == {
        "submissions-on#2027-01-15": {
            "id": "submissions-on#2027-01-15",
            "submitted": 1,
            "expires_at": int(DAY_START + 3 * 86400),
        }
    }


def test_the_day_turns_at_midnight_utc(cap):
    assert cap.next_day() == DAY_START + 86400


@pytest.fixture
def far_from_utc(monkeypatch):
    """The process's local time zone 14 hours ahead of UTC: the count must still follow UTC days."""
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
def test_the_day_is_the_utc_day_whatever_the_local_time_zone(cap, table):
    assert cap.next_day() == DAY_START + 86400
    cap.take()
    assert list(table.items) == ["submissions-on#2027-01-15"]


def test_giving_back_uncounts_exactly_one(cap, table):
    cap.take()
    cap.take()
    cap.give_back()
    assert table.items["submissions-on#2027-01-15"]["submitted"] == 1


def test_giving_back_when_nothing_was_counted_today_is_harmless(cap, table):
    cap.give_back()
    assert table.items == {}


def test_without_a_cap_nothing_is_read_or_written(table):
    cap = DailySubmissionCap(table, 0, clock=Clock(NOW))
    assert not cap.enabled
    assert all(cap.take() for _ in range(5))
    cap.give_back()
    assert (table.requests, table.reads) == (0, [])


class FailingTable(FakeTable):
    def __init__(self, error: ClientError) -> None:
        super().__init__()
        self.error = error

    def update_item(self, **kwargs):
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException", "UpdateItem"),
        ClientError({}, "UpdateItem"),  # an answer without an Error element
    ],
)
def test_other_dynamodb_errors_propagate(error):
    cap = DailySubmissionCap(FailingTable(error), 2, clock=Clock(NOW))
    with pytest.raises(ClientError) as raised:
        cap.take()
    assert raised.value is error
    with pytest.raises(ClientError) as raised:
        cap.give_back()
    assert raised.value is error
