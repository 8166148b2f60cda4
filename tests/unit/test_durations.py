"""The provider's recent task durations (cutout.durations) and the first look they time
(cutout.looks.first_look_at)."""

import math
import random

import pytest
from botocore.exceptions import ClientError

from cutout.durations import (
    EDGES,
    EXPLORE_EVERY,
    MIN_SAMPLES,
    Histogram,
    TaskDurations,
    bin_of,
    ended_about,
    explores,
)
from cutout.looks import FIRST_LOOK_DELAY_SECONDS, MAX_FIRST_LOOK_SECONDS, first_look_at
from tests.support.fakes import AN_EXPLORER, NOT_AN_EXPLORER, Clock, Learnt


def log_normal(median: float, sigma: float, n: int = 2000) -> list[float]:
    rng = random.Random(7)
    return [rng.lognormvariate(math.log(median), sigma) for _ in range(n)]


def test_bins_are_a_tenth_of_a_second_up_to_20_s_then_a_tenth_wider_each_up_to_a_day():
    assert EDGES[:3] == (0.1, 0.2, 0.3)
    assert EDGES[199] == 20.0
    assert EDGES[200] == 22.0
    assert EDGES[-1] >= 86400
    assert list(EDGES) == sorted(set(EDGES))
    assert [bin_of(s) for s in (0.01, 0.1, 0.11, 19.99, 1e9)] == [0, 0, 1, 199, len(EDGES) - 1]


def test_one_task_in_eight_explores_the_same_way_everywhere():
    ids = [f"0b7c{i:04x}-5b1a-4e0f-9a57-2f3e8d1c6b4a" for i in range(8000)]
    share = sum(map(explores, ids)) / len(ids)
    assert share == pytest.approx(1 / EXPLORE_EVERY, abs=0.01)
    # a stable hash (CRC-32), not Python's per-process salted hash(): Send and CheckStatus, in other
    # processes, decide the same for a task
    assert [explores(f"task-{i}") for i in range(6)] == [False, False, False, False, True, False]


def test_a_duration_is_the_middle_of_what_the_looks_leave():
    assert ended_about(2.0, 2.6) == pytest.approx(2.3)
    assert ended_about(0.0, 1.0) == pytest.approx(0.5)
    assert ended_about(3.0, 2.6) == pytest.approx(2.6)  # an eta too long cannot put the end after its sight


def test_the_histogram_gives_quantiles_and_shares_of_its_durations():
    seconds = log_normal(2.5, 0.5)
    histogram = Learnt(seconds).recent()
    assert histogram.samples == len(seconds)
    ordered = sorted(seconds)
    for q in (0.1, 0.5, 0.9):
        assert histogram.quantile(q) == pytest.approx(ordered[int(q * len(ordered))], abs=0.2)
    assert histogram.share_within(2.5) == pytest.approx(0.5, abs=0.03)
    assert (histogram.share_within(0), histogram.share_within(1e6)) == (0.0, 1.0)
    assert (Histogram().quantile(0.5), Histogram().share_within(3)) == (None, 0.0)


def test_no_history_few_samples_or_an_explorer_look_at_once():
    assert first_look_at(None, NOT_AN_EXPLORER) == 0.0
    assert first_look_at(Learnt([2.5] * (MIN_SAMPLES - 1)), NOT_AN_EXPLORER) == 0.0
    assert first_look_at(Learnt(log_normal(2.5, 0.5)), AN_EXPLORER) == 0.0


def test_short_tasks_are_first_looked_at_when_many_but_not_most_have_ended():
    learnt = Learnt(log_normal(2.5, 0.5))
    at = first_look_at(learnt, NOT_AN_EXPLORER)
    assert 1.0 < at < 3.0
    assert 0.2 < learnt.recent().share_within(at) < 0.8  # the rest are waited for by their eta


def test_explorers_look_at_once_only_while_the_durations_are_mostly_estimates():
    estimated, exact = Learnt(log_normal(2.5, 0.5)), Learnt(log_normal(2.5, 0.5), exact=True)
    assert (estimated.recent().mostly_exact, exact.recent().mostly_exact) == (False, True)
    assert first_look_at(estimated, AN_EXPLORER) == 0.0
    assert first_look_at(exact, AN_EXPLORER) == first_look_at(exact, NOT_AN_EXPLORER) > 0


def test_tight_tasks_are_looked_at_just_after_they_end():
    at = first_look_at(Learnt([1.0 + 0.001 * i for i in range(100)]), NOT_AN_EXPLORER)
    assert 1.1 <= at <= 1.1 + FIRST_LOOK_DELAY_SECONDS


def test_long_tasks_are_looked_at_at_once_for_their_eta():
    # nothing is done by the latest first look: sleeping until then would buy nothing
    assert first_look_at(Learnt(log_normal(120, 0.5)), NOT_AN_EXPLORER) == 0.0
    assert first_look_at(Learnt([MAX_FIRST_LOOK_SECONDS + 1] * 100), NOT_AN_EXPLORER) == 0.0


class BrokenTable:
    def update_item(self, **kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")

    def get_item(self, **kwargs):
        raise ClientError({"Error": {"Code": "InternalServerError"}}, "GetItem")


def test_a_table_that_does_not_answer_never_stands_in_a_tasks_way():
    durations = TaskDurations(BrokenTable())
    durations.record(2.0, exact=True)  # not recorded, no error
    assert durations.recent().samples == 0  # so the look comes at once


class CountingTable:
    def __init__(self) -> None:
        self.gets: list[str] = []

    def get_item(self, *, Key):
        self.gets.append(Key["id"])
        return {"Item": {"id": Key["id"], "b12": 3, "exact": 2, "expires_at": 1}}


def test_the_recent_counts_are_this_hour_and_the_last_read_at_most_once_a_minute():
    table, clock = CountingTable(), Clock(7200.0 * 100 + 10)
    durations = TaskDurations(table, clock=clock)
    assert durations.recent() == Histogram({12: 6}, exact=4)
    assert table.gets == ["task-durations#199", "task-durations#200"]
    clock.advance(59)
    durations.recent()
    assert len(table.gets) == 2
    clock.advance(2)
    durations.recent()
    assert len(table.gets) == 4


class RecordingTable:
    def __init__(self, items: dict | None = None) -> None:
        self.updates: list[dict] = []
        self.items = items or {}

    def update_item(self, **request):
        self.updates.append(request)
        return {}

    def get_item(self, *, Key):
        return {"Item": self.items[Key["id"]]} if Key["id"] in self.items else {}


def test_a_duration_is_one_atomic_add_to_its_bin_in_this_hours_item_kept_a_day_after_it():
    table, clock = RecordingTable(), Clock(3600.0 * 500 + 1234)
    TaskDurations(table, clock=clock).record(2.55, exact=True)
    TaskDurations(table, clock=clock).record(0.05, exact=False)
    assert table.updates == [
        {
            "Key": {"id": "task-durations#500"},
            "UpdateExpression": "ADD #bin :one, exact :exact SET expires_at = :expires",
            "ExpressionAttributeNames": {"#bin": f"b{bin_of(2.55)}"},
            "ExpressionAttributeValues": {":one": 1, ":exact": 1, ":expires": 501 * 3600 + 86400},
        },
        {
            "Key": {"id": "task-durations#500"},
            "UpdateExpression": "ADD #bin :one, exact :exact SET expires_at = :expires",
            "ExpressionAttributeNames": {"#bin": "b0"},
            "ExpressionAttributeValues": {":one": 1, ":exact": 0, ":expires": 501 * 3600 + 86400},
        },
    ]
    assert bin_of(2.55) == 25


def test_the_recent_counts_read_every_bin_and_count_exact_ones_only_where_recorded():
    # the last hour's item is gone (expired, or no task ended then); this one has no exact count
    table = RecordingTable({"task-durations#200": {"id": "task-durations#200", "b5": 2, "b12": 3}})
    clock = Clock(3600.0 * 200 + 10)
    durations = TaskDurations(table, clock=clock)
    assert durations.recent() == Histogram({5: 2, 12: 3}, exact=0)
    table.items["task-durations#200"]["b5"] = 9
    clock.advance(60)  # a minute on: read again
    assert durations.recent() == Histogram({5: 9, 12: 3}, exact=0)


def test_the_histogram_at_its_first_bin_and_past_its_last():
    first = Learnt([0.05] * 10).recent()  # all in the first bin, 0-0.1 s
    assert first.share_within(0.05) == pytest.approx(0.5)
    assert first.quantile(0.5) == pytest.approx(0.05)
    assert Learnt([0.3] * 10).recent().share_within(0.5) == 1.0
    assert Learnt([0.3, 2.0]).recent().quantile(1.2) == 2.0  # past the last: its bin's upper edge
    assert Histogram().plus(1.0).exact == 0  # recorded as an estimate unless said exact
