"""The provider's shared health (``cutout.health``): an outage is declared once, probed by one caller at a
time at doubling intervals, ended by the first answered probe, and given up on only past
MaxProviderOutageSeconds."""

import json
import logging

import pytest

from cutout.errors import ProviderOutageError
from cutout.health import FIRST_PROBE_SECONDS, PROBE_HOLD_SECONDS, Go, ProviderHealth, Wait
from tests.support.fakes import Clock, FakeTable, provider_health
from tests.support.logs import function_log_lines


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def table():
    return FakeTable()


def callers(settings, table, clock, n: int = 2) -> list[ProviderHealth]:
    """``n`` functions sharing one table and clock (as concurrent Lambdas share the DynamoDB item)."""
    return [provider_health("submit", settings, table, clock) for _ in range(n)]


def messages(lines: list[str]) -> list[str]:
    return [json.loads(line)["message"] for line in lines]


def test_a_healthy_provider_is_called(settings, table, clock):
    [health] = callers(settings, table, clock, 1)
    assert health.ask() == Go()
    assert health.outage() is None


def test_the_first_failure_declares_the_outage_once_and_logs_the_pause_once(settings, table, clock):
    first, second = callers(settings, table, clock)
    with function_log_lines(logging.INFO) as lines:
        go_first, go_second = first.ask(), second.ask()  # both called while it was still healthy
        outage = first.failed("HTTP 503", go_first)
        again = second.failed("HTTP 502", go_second)
    assert outage.since == clock.now
    assert outage.next_probe_at == clock.now + FIRST_PROBE_SECONDS
    assert again == outage  # the second failure found it declared: same outage, same reason
    assert messages(lines).count("provider unavailable: pausing") == 1


def test_while_down_nobody_calls_until_the_probe_is_due(settings, table, clock, added_metrics):
    first, second = callers(settings, table, clock)
    first.failed("HTTP 503", first.ask())
    clock.advance(FIRST_PROBE_SECONDS - 0.01)
    verdict = second.ask()
    assert isinstance(verdict, Wait)
    assert second.wait_seconds(verdict.outage) == 1
    assert any(call.kwargs["name"] == "ProviderUnavailable" for call in added_metrics.call_args_list)


def test_exactly_one_caller_wins_the_due_probe(settings, table, clock):
    health = callers(settings, table, clock, 5)
    health[0].failed("HTTP 503", health[0].ask())
    clock.advance(FIRST_PROBE_SECONDS)
    verdicts = [h.ask() for h in health]
    probes = [v for v in verdicts if isinstance(v, Go)]
    assert len(probes) == 1
    assert probes[0].probe is not None
    # the others wait while the probe is in flight, at most as long as a probe may take
    waits = [health[0].wait_seconds(v.outage) for v in verdicts if isinstance(v, Wait)]
    assert waits == [PROBE_HOLD_SECONDS] * 4


def test_failed_probes_double_the_interval_up_to_the_maximum(settings, table, clock):
    [health] = callers(settings, table, clock, 1)
    health.failed("HTTP 503", health.ask())
    intervals = []
    for _ in range(12):
        outage = health.outage()
        assert outage is not None
        clock.now = outage.next_probe_at
        go = health.ask()
        assert isinstance(go, Go)
        assert go.probe is not None
        intervals.append(health.failed("HTTP 503", go).interval)
    assert intervals == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]  # ProviderProbeMaxSeconds 300


def test_an_answered_probe_ends_the_outage_and_logs_the_resume_once(settings, table, clock):
    first, second = callers(settings, table, clock)
    first.failed("HTTP 503", first.ask())
    clock.advance(90)
    with function_log_lines(logging.INFO) as lines:
        go = second.ask()
        second.succeeded(go)
        first.succeeded(go)  # a second report of the same probe changes nothing
    assert first.outage() is None
    assert first.ask() == Go()
    resumed = [json.loads(line) for line in lines if "available again" in line]
    assert [(r["message"], r["outage_seconds"]) for r in resumed] == [
        ("provider available again: resuming", 90.0)
    ]


def test_a_probe_whose_lambda_died_is_taken_over_after_the_hold(settings, table, clock):
    first, second = callers(settings, table, clock)
    first.failed("HTTP 503", first.ask())
    clock.advance(FIRST_PROBE_SECONDS)
    assert isinstance(first.ask(), Go)  # ...and never reports back
    clock.advance(PROBE_HOLD_SECONDS - 0.1)
    assert isinstance(second.ask(), Wait)
    clock.advance(0.1)
    assert isinstance(second.ask(), Go)


def test_an_hour_of_outage_costs_a_bounded_number_of_probes(settings, table, clock, added_metrics):
    """Twenty waiting callers, each asking every 5 s for an hour: the provider sees the probes only,
    log2(300) + (3600 - 511) / 300, about 19 calls."""
    health = callers(settings, table, clock, 20)
    health[0].failed("HTTP 503", health[0].ask())
    start, calls = clock.now, 0
    while clock.now - start < 3600:
        for h in health:
            verdict = h.ask()
            if isinstance(verdict, Go):
                calls += 1
                h.failed("HTTP 503", verdict)
        clock.advance(5)
    assert calls <= 21


def test_past_the_bound_a_waiting_caller_gives_up_saying_for_how_long(settings, table, clock):
    first, second = callers(settings, table, clock)
    first.failed("/v3/async/image-remove-background answered HTTP 503: SERVICE_UNAVAILABLE", first.ask())
    clock.advance(settings.max_provider_outage_seconds)
    assert isinstance(first.ask(), Go)  # at the bound exactly, still a probe
    clock.advance(1)
    with pytest.raises(ProviderOutageError) as gave_up:
        second.ask()
    bound = settings.max_provider_outage_seconds
    assert str(gave_up.value) == (
        f"the provider (its submissions) has been unavailable for {bound + 1} s, more than "
        f"MaxProviderOutageSeconds ({bound}); last error: "
        "/v3/async/image-remove-background answered HTTP 503: SERVICE_UNAVAILABLE"
    )


def test_a_probe_past_the_bound_that_fails_gives_up_too(settings, table, clock):
    [health] = callers(settings, table, clock, 1)
    health.failed("HTTP 503", health.ask())
    clock.advance(settings.max_provider_outage_seconds + 5)
    go = health.ask()
    assert isinstance(go, Go)
    with pytest.raises(ProviderOutageError):
        health.failed("HTTP 503", go)


def test_the_parts_of_the_provider_are_down_independently(settings, table, clock):
    submit = provider_health("submit", settings, table, clock)
    downloads = provider_health("download", settings, table, clock)
    downloads.failed("result URL answered HTTP 503", downloads.ask())
    assert submit.ask() == Go()
    assert isinstance(downloads.ask(), Wait)


def test_an_unknown_part_is_refused(settings, table):
    with pytest.raises(ValueError, match="unknown provider part 'api'"):
        ProviderHealth(table, "api", max_outage_seconds=60, max_probe_seconds=60)
