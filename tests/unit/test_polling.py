import pytest
from aws_lambda_powertools.metrics import MetricUnit

from cutout.durations import MIN_SAMPLES
from cutout.errors import (
    ProviderBillingError,
    ProviderOutageError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from cutout.looks import (
    AIM_EVIDENCE,
    BLIND_PERIOD_SECONDS,
    BLIND_STEP_SECONDS,
    BLIND_WINDOW_SECONDS,
    MAX_IN_LAMBDA_SECONDS,
    MAX_WAIT_SECONDS,
    REPOLL_STEP_SECONDS,
    SKIP_EVIDENCE,
    after_submission,
    aiming,
    decide,
    eta_ran_out,
    first_look_at,
    known_unfinished,
    next_look_in,
    next_wait_seconds,
    plan,
    time_left,
)
from cutout.novita import TaskResult, parse_task_result
from cutout.polling import check_task, poll_task
from cutout.state import PAUSED, PollRequest
from tests.support.events import load_event
from tests.support.fakes import AN_EXPLORER, NOT_AN_EXPLORER, Clock, FakeTable, Learnt, provider_health

SUBMITTED_AT = 1_000.0


@pytest.mark.parametrize(
    ("eta", "expected"), [(3, 2), (2.2, 1), (0.4, 1), (10, 9), (20, 11), (80, 47), (500, MAX_WAIT_SECONDS)]
)
def test_short_etas_are_waited_out_and_long_ones_approached(eta, expected):
    # the Wait leads to 3/4 into the last second the eta names (or 60 % of a long one), less the loop's lag
    assert next_wait_seconds(eta=eta, elapsed=5, remaining=900) == expected


def test_the_fraction_of_a_second_a_wait_cannot_count_is_slept_before_returning():
    aimed = plan(3, elapsed=5, remaining=900)
    assert aimed.wait_seconds == 2
    assert aimed.wait_seconds + aimed.settle + 0.3 == pytest.approx(2.75)  # 0.3: READ_LAG_SECONDS
    assert plan(3, elapsed=5, remaining=900, rtt=0.2).settle == pytest.approx(aimed.settle - 0.1)
    assert plan(None, elapsed=5, remaining=900).settle == 0  # blind: no aim to land on
    assert plan(30, elapsed=5, remaining=900).settle == 0  # a long eta is only approached


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (0, 1.0),
        (0.5, 0.5),
        (1, BLIND_STEP_SECONDS),
        (9.9, BLIND_STEP_SECONDS),
        (10.2, 2.3),
        (40, 2.5),
        (45, 1.0),
    ],
)
def test_without_eta_the_task_is_looked_at_in_windows(elapsed, expected):
    assert next_look_in(None, elapsed=elapsed) == pytest.approx(expected)


def test_blind_windows_leave_at_most_a_tenth_of_a_30_s_task_unwatched_and_are_longer_than_5_s():
    assert BLIND_PERIOD_SECONDS - BLIND_WINDOW_SECONDS + 0.3 <= 0.1 * 30  # 0.3: READ_LAG_SECONDS
    assert BLIND_PERIOD_SECONDS > 5


def test_without_eta_the_progress_gives_the_time_left():
    assert time_left(TaskResult("t", "PROCESSING", "", None, 25, ()), elapsed=10) == 30
    assert time_left(TaskResult("t", "PROCESSING", "", 4, 25, ()), elapsed=10) == 4
    assert time_left(TaskResult("t", "QUEUED", "", 0, 0, ()), elapsed=10) is None
    assert time_left(TaskResult("t", "PROCESSING", "", None, None, ()), elapsed=10) is None


@pytest.mark.parametrize("elapsed", [30, 31, 45, 99.5, 250, 599])
def test_without_eta_the_next_look_comes_within_a_tenth_of_the_elapsed_time(elapsed):
    # One loop round adds about half a second (Choice, Task, invoke, provider call) to the Wait.
    assert next_wait_seconds(eta=None, elapsed=elapsed, remaining=10_000) + 0.5 <= 0.1 * elapsed


def test_never_waits_past_the_deadline():
    assert next_wait_seconds(eta=40, elapsed=880, remaining=20) == 20
    assert next_wait_seconds(eta=40, elapsed=900, remaining=0) == 1


def test_processing_task_before_the_deadline_loops():
    result = parse_task_result(load_event("provider/task_result_processing.json"), "t")
    poll = decide(result, elapsed=10, count=3, max_wait=900)
    assert (poll.status, poll.count, poll.deadline_passed) == ("PROCESSING", 3, False)
    assert poll.wait_seconds == next_wait_seconds(eta=result.eta, elapsed=10, remaining=890)


def test_deadline_passed_only_for_unfinished_tasks():
    processing = parse_task_result(load_event("provider/task_result_unknown.json"), "t")
    poll = decide(processing, elapsed=901, count=40, max_wait=900)
    assert poll.deadline_passed
    assert "still UNKNOWN after 901 s" in poll.reason
    done = parse_task_result(load_event("provider/task_result_succeed.json"), "t")
    assert not decide(done, elapsed=901, count=40, max_wait=900).deadline_passed


def test_failed_task_carries_the_provider_reason():
    result = parse_task_result(load_event("provider/task_result_failed.json"), "t")
    assert decide(result, elapsed=3, count=1, max_wait=900).reason == "failed to download image: HTTP 403"


class ScriptedProvider:
    """Answers task-result requests from a script of results, on a clock that sleep() moves."""

    def __init__(self, *results: TaskResult | Exception) -> None:
        self.results = list(results)
        self.requests = 0
        self.asked: list[str] = []
        self.now = SUBMITTED_AT + 5
        self.slept: list[float] = []

    def task_result(self, task_id: str) -> TaskResult:
        self.requests += 1
        self.asked.append(task_id)
        answer = self.results.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def running(eta: float | None) -> TaskResult:
    return TaskResult("t", "PROCESSING", "", eta, 50, ())


def blind() -> TaskResult:
    """Running, with neither an eta nor a progress."""
    return TaskResult("t", "PROCESSING", "", None, None, ())


def finished(*, timed: bool = True) -> TaskResult:
    """Done; ``timed``: with the provider's submit and complete times (2.652 s apart), as it gives them."""
    body = load_event("provider/task_result_succeed.json")
    if not timed:
        del body["extra"]["debug_info"]
    return parse_task_result(body, "t")


def poll(provider: ScriptedProvider, count: int = 0, max_wait: int = 900):
    return poll_task(
        provider,
        "t",
        submitted_at=SUBMITTED_AT,
        count=count,
        max_wait=max_wait,
        clock=provider.clock,
        sleep=provider.sleep,
    )


def look_after_submitting(provider: ScriptedProvider, task_id: str = "t", durations: Learnt | None = None):
    """SendFunction's look after submitting, on the provider's clock, submitted just now."""
    return after_submission(
        provider,
        task_id,
        submitted_at=provider.now,
        max_wait=900,
        durations=durations,
        clock=provider.clock,
        sleep=provider.sleep,
    )


def test_a_task_far_from_done_is_asked_once_and_left_to_the_state_machine():
    provider = ScriptedProvider(running(eta=4))
    result = poll(provider, count=2)
    assert (result.status, result.wait_seconds, result.count) == ("PROCESSING", 3, 3)
    assert provider.requests == 1
    assert provider.slept == [pytest.approx(0.45)]  # the look lands at 3.75 s: 3 + 0.45 + the loop's 0.3


def test_a_task_about_to_finish_is_asked_again_in_the_same_invocation():
    provider = ScriptedProvider(running(eta=1), running(eta=1), finished())
    result = poll(provider, count=2)
    assert (result.status, result.count) == ("SUCCEED", 5)
    # 3/4 into its last second, then, the eta run out, every step: noticed within a step of the end
    assert provider.slept == [pytest.approx(0.75), REPOLL_STEP_SECONDS]


def test_the_in_lambda_wait_is_bounded():
    provider = ScriptedProvider(*[running(eta=1)] * 100)
    result = poll(provider)
    assert result.status == "PROCESSING"
    assert provider.requests == result.count == len(provider.slept) + 1
    assert MAX_IN_LAMBDA_SECONDS - REPOLL_STEP_SECONDS < sum(provider.slept) <= MAX_IN_LAMBDA_SECONDS + 1e-9


def test_no_in_lambda_wait_once_finished():
    provider = ScriptedProvider(finished())
    poll(provider)
    assert (provider.requests, provider.slept) == (1, [])


def test_within_a_blind_window_the_task_is_looked_at_every_step():
    provider = ScriptedProvider(blind(), blind(), blind(), finished())
    result = poll(provider)  # 5 s after the submission: within the first window
    assert (result.status, result.count) == ("SUCCEED", 4)
    assert provider.slept == [BLIND_STEP_SECONDS] * 3


def test_the_look_after_submitting_aims_the_first_wait_at_the_eta():
    provider = ScriptedProvider(running(eta=3))
    first = look_after_submitting(provider)
    assert (first.status, first.count, first.wait_seconds) == ("PROCESSING", 1, 2)
    assert provider.slept == [pytest.approx(0.45)]


def test_a_task_finished_by_the_look_after_submitting_needs_no_wait():
    # the state machine's Submitted choice takes it straight to WriteResult (test_state_machine.py)
    provider = ScriptedProvider(finished())
    first = look_after_submitting(provider)
    assert (first.status, first.wait_seconds, provider.slept) == ("SUCCEED", 0, [])


def short_tasks_learnt() -> Learnt:
    return Learnt([2.0 + 0.01 * i for i in range(100)])  # recent tasks took 2-3 s


def test_with_short_recent_tasks_the_look_after_submitting_comes_when_most_have_ended():
    provider = ScriptedProvider(finished())
    learnt = short_tasks_learnt()
    first = look_after_submitting(provider, NOT_AN_EXPLORER, durations=learnt)
    at = first_look_at(learnt, NOT_AN_EXPLORER)
    assert 2.0 < at < 3.0
    assert provider.slept == [pytest.approx(at)]
    assert (first.status, first.count, first.wait_seconds, provider.requests) == ("SUCCEED", 1, 0, 1)
    # the provider's own times (less half a request: counted from the submission's return)
    assert learnt.recorded == [(pytest.approx(2.552), True)]


def test_without_the_providers_times_a_task_looked_at_at_once_records_what_its_looks_leave():
    provider = ScriptedProvider(running(eta=3))
    learnt = short_tasks_learnt()
    first = look_after_submitting(provider, AN_EXPLORER, durations=learnt)
    assert provider.slept == [pytest.approx(0.45)]  # no sleep before the look: only the eta's settle
    assert first.unfinished_until == pytest.approx(2.0)  # read at 0, eta 3 (rounded up): ends after 2 s
    assert first.learns  # looked at at once: its duration is unbiased
    provider.results = [finished(timed=False)]
    provider.now = provider.now + 2.3  # the aimed look, 2.75 s after the submission
    done = poll_task(
        provider,
        AN_EXPLORER,
        submitted_at=provider.now - 2.75,
        count=first.count,
        max_wait=900,
        unfinished_until=first.unfinished_until,
        learns=first.learns,
        durations=learnt,
        clock=provider.clock,
        sleep=provider.sleep,
    )
    assert done.status == "SUCCEED"
    assert learnt.recorded == [(pytest.approx((2.0 + 2.75) / 2), False)]


def test_without_the_providers_times_a_task_first_looked_at_later_records_nothing():
    learnt = short_tasks_learnt()
    provider = ScriptedProvider(finished(timed=False))
    poll_task(
        provider,
        NOT_AN_EXPLORER,
        submitted_at=SUBMITTED_AT,
        count=1,
        max_wait=900,
        durations=learnt,
        clock=provider.clock,
        sleep=provider.sleep,
    )
    assert learnt.recorded == []


@pytest.mark.parametrize(
    ("result", "read_at", "previous", "expected"),
    [
        (running(eta=3), 1.0, 0.0, 3.0),  # ends in (2, 3] after its reading
        (running(eta=None), 4.0, 2.5, 4.0),  # no eta: the reading itself
        (running(eta=1), 2.0, 2.5, 2.5),  # never earlier than known before
        (finished(), 9.0, 2.5, 2.5),
    ],
)
def test_how_long_a_task_is_known_unfinished(result, read_at, previous, expected):
    assert known_unfinished(result, read_at=read_at, previous=previous) == pytest.approx(expected)


def test_a_task_still_running_at_the_look_its_eta_aimed_at_is_asked_again_after_a_step():
    # Send read eta 3 at 0: the task ends in (2, 3]. The aimed look at 2.75 finds it running, eta 1 (the
    # rest rounded up): it ends within 0.25 s, so the next look is a step away, not another 3/4 second.
    provider = ScriptedProvider(running(eta=1), finished())
    provider.now = SUBMITTED_AT + 2.75
    result = poll_task(
        provider,
        "t",
        submitted_at=SUBMITTED_AT,
        count=1,
        max_wait=900,
        unfinished_until=2.0,
        clock=provider.clock,
        sleep=provider.sleep,
    )
    assert (result.status, result.count) == ("SUCCEED", 3)
    assert provider.slept == [REPOLL_STEP_SECONDS]
    assert eta_ran_out(running(eta=1), read_at=2.75, unfinished_before=2.0)
    assert not eta_ran_out(running(eta=1), read_at=0.1, unfinished_before=0.0)  # nothing aimed yet
    assert not eta_ran_out(running(eta=2), read_at=2.75, unfinished_before=2.0)


def test_elapsed_time_is_read_after_the_polls():
    provider = ScriptedProvider(*[running(eta=1)] * 6)
    provider.now = SUBMITTED_AT + 899.2  # the in-Lambda second takes it past the deadline
    result = poll(provider, max_wait=900)
    assert result.deadline_passed
    assert "after 900 s" in result.reason


def test_no_in_lambda_wait_once_the_deadline_has_passed():
    provider = ScriptedProvider(running(eta=1))
    provider.now = SUBMITTED_AT + 901
    result = poll(provider, max_wait=900)
    assert result.deadline_passed
    assert (provider.requests, provider.slept) == (1, [])


def failed(reason: str) -> TaskResult:
    return TaskResult("t", "FAILED", reason, None, 0, ())


def test_a_failed_task_without_a_reason_still_says_what_happened():
    poll = decide(failed(""), elapsed=3, count=1, max_wait=900)
    assert poll.reason == "the provider reported the task FAILED without a reason"
    assert not poll.deadline_passed


def test_an_unfinished_task_carries_no_reason():
    assert decide(running(eta=4), elapsed=3, count=1, max_wait=900).reason == ""


def test_the_deadline_passes_at_exactly_max_wait_and_the_reason_says_so():
    poll = decide(running(eta=None), elapsed=900.7, count=41, max_wait=900)
    assert poll.deadline_passed
    assert poll.reason == "task t still PROCESSING after 900 s (MaxTaskWaitSeconds 900) and 41 polls"
    assert decide(running(eta=None), elapsed=900, count=41, max_wait=900).deadline_passed
    assert not decide(running(eta=None), elapsed=899.9, count=41, max_wait=900).deadline_passed


def test_a_task_failed_at_the_deadline_keeps_the_providers_reason():
    poll = decide(failed("no subject found"), elapsed=950, count=41, max_wait=900)
    assert (poll.status, poll.deadline_passed, poll.reason) == ("FAILED", False, "no subject found")


def test_the_next_wait_is_counted_against_the_time_left():
    poll = decide(running(eta=40), elapsed=880.5, count=30, max_wait=900)
    assert (poll.wait_seconds, poll.count) == (20, 30)  # 19.5 s left, rounded up


@pytest.mark.parametrize(("eta", "expected"), [(10.5, 6), (10.01, 5), (9.2, 8), (100, 59), (101, 60)])
def test_etas_just_over_the_trusted_bound_are_approached(eta, expected):
    assert next_wait_seconds(eta=eta, elapsed=5, remaining=900) == expected


def test_a_negative_eta_counts_as_none():
    assert next_wait_seconds(eta=-5, elapsed=120, remaining=900) == next_wait_seconds(
        eta=None, elapsed=120, remaining=900
    )


@pytest.mark.parametrize(("remaining", "expected"), [(2.5, 3), (0.2, 1), (-30, 1)])
def test_the_last_wait_is_rounded_up_to_whole_seconds_and_never_below_one(remaining, expected):
    assert next_wait_seconds(eta=30, elapsed=5, remaining=remaining) == expected


@pytest.mark.parametrize("eta", [4, 30])
def test_no_in_lambda_look_for_a_task_not_about_to_finish(eta):
    provider = ScriptedProvider(running(eta=eta))
    poll(provider)
    assert provider.requests == 1


def test_a_task_with_under_a_second_left_is_asked_again():
    provider = ScriptedProvider(running(eta=0.3), finished())
    result = poll(provider)
    assert (result.status, result.count, provider.slept) == ("SUCCEED", 2, [pytest.approx(0.225)])


def test_no_in_lambda_wait_at_exactly_the_deadline():
    provider = ScriptedProvider(running(eta=1))
    provider.now = SUBMITTED_AT + 900
    result = poll(provider, max_wait=900)
    assert result.deadline_passed
    assert provider.requests == 1


def test_the_in_lambda_wait_starts_just_before_the_deadline():
    provider = ScriptedProvider(running(eta=1), finished())
    provider.now = SUBMITTED_AT + 899.9
    result = poll(provider, max_wait=900)
    assert (result.status, result.deadline_passed, provider.requests) == ("SUCCEED", False, 2)


def test_every_request_asks_for_the_polled_task():
    provider = ScriptedProvider(running(eta=1), finished())
    poll_task(
        provider,
        "8f0b7c0e-5b1a-4e0f-9a57-2f3e8d1c6b4a",
        submitted_at=SUBMITTED_AT,
        count=0,
        max_wait=900,
        clock=provider.clock,
        sleep=provider.sleep,
    )
    assert provider.asked == ["8f0b7c0e-5b1a-4e0f-9a57-2f3e8d1c6b4a"] * 2


# --- outages: the provider's task-result unavailable (cutout.health) -------------------------------------
class Outage:
    """CheckStatus rounds against a ScriptedProvider, the provider's health on a shared table and clock."""

    def __init__(self, settings, *results: TaskResult | Exception) -> None:
        self.provider = ScriptedProvider(*results)
        self.clock = Clock(self.provider.now)
        self.provider.clock = self.clock  # type: ignore[method-assign]
        self.health = provider_health("task-result", settings, FakeTable(), self.clock)
        self.max_wait = settings.max_task_wait_seconds

    def check(self, request: PollRequest, *results: TaskResult | Exception):
        self.provider.results.extend(results)
        return check_task(
            self.provider,  # type: ignore[arg-type]
            self.health,
            request,
            max_wait=self.max_wait,
            clock=self.clock,
            sleep=self.provider.sleep,
            spread=lambda low, high: 0.0,
        )


def request(count: int = 3, paused_seconds: int = 0) -> PollRequest:
    return PollRequest("t", SUBMITTED_AT, count, paused_seconds)


@pytest.mark.parametrize(
    "error",
    [
        ProviderUnavailableError("task-result answered HTTP 503"),
        ProviderTimeoutError("task-result timed out"),
        ProviderBillingError("task-result answered HTTP 403: BILLING_FAILED"),
    ],
)
def test_an_unavailable_provider_pauses_the_polling_instead_of_failing_it(settings, error):
    outage = Outage(settings)
    poll = outage.check(request(count=3, paused_seconds=4), error)
    assert (poll.status, poll.wait_seconds, poll.count, poll.deadline_passed) == (PAUSED, 1, 3, False)
    assert poll.paused_seconds == 5
    assert poll.reason == f"provider unavailable: {error}"


def test_while_paused_only_the_due_probe_asks_the_provider(settings):
    outage = Outage(settings)
    outage.check(request(), ProviderUnavailableError("503"))
    paused = outage.check(request())  # before the probe: nothing asked
    assert paused.status == PAUSED
    assert outage.provider.requests == 1
    outage.clock.advance(1)
    polled = outage.check(request(), running(eta=None))  # the probe, answered: the outage is over
    assert (polled.status, polled.count) == ("PROCESSING", 4)
    assert outage.provider.requests == 2
    assert outage.health.outage() is None


def test_time_paused_does_not_count_against_the_task_deadline(settings):
    outage = Outage(settings)
    outage.clock.now = SUBMITTED_AT + settings.max_task_wait_seconds + 100
    paused_for_longer = request(paused_seconds=101)
    poll = outage.check(paused_for_longer, running(eta=None))
    assert not poll.deadline_passed
    assert poll.paused_seconds == 101
    assert outage.check(request(paused_seconds=99), running(eta=None)).deadline_passed


def test_polling_gives_up_past_max_provider_outage_saying_so(settings):
    outage = Outage(settings)
    outage.check(request(), ProviderUnavailableError("503"))
    outage.clock.advance(settings.max_provider_outage_seconds + 1)
    outage.health.ask()  # someone else holds the due probe
    with pytest.raises(ProviderOutageError, match=r"^the provider \(its task results\) has been unavailable"):
        outage.check(request())


def test_a_task_that_ended_counts_the_polls_it_took_and_one_still_running_counts_nothing(
    settings, added_metrics
):
    outage = Outage(settings)
    outage.check(request(count=3), running(eta=None))
    added_metrics.assert_not_called()
    outage.check(request(count=4), finished())
    added_metrics.assert_called_once_with(name="PollsPerTask", unit=MetricUnit.Count, value=5)


def test_a_task_about_to_end_at_the_look_after_submitting_is_followed_within_send():
    # as CheckStatus would, without a round of the loop (three transitions) to get there
    provider = ScriptedProvider(running(eta=1), finished())
    first = look_after_submitting(provider)
    assert (first.status, first.count, first.wait_seconds) == ("SUCCEED", 2, 0)
    assert provider.slept == [pytest.approx(0.75)]


# --- Looks aimed by the recent durations ----------------------------------------------------------


def about_one_second(n: int = 200, *, exact: bool = True) -> Learnt:
    """Tasks of 1.00-1.19 s, evenly spread."""
    return Learnt([1.0 + 0.2 * i / n for i in range(n)], exact=exact)


def test_looks_are_aimed_only_once_enough_durations_are_known_and_not_by_learners_of_estimates():
    assert aiming(None, False) is None
    assert aiming(Learnt([1.0] * 29, exact=True), False) is None  # MIN_SAMPLES is 30
    exact, estimated = about_one_second(), about_one_second(exact=False)
    assert aiming(exact, False) is exact.histogram
    assert aiming(exact, True) is exact.histogram  # exact times do not follow the looks
    assert aiming(estimated, False) is estimated.histogram
    assert aiming(estimated, True) is None  # its estimate must come from the plain policy's looks


def test_a_short_task_running_past_its_first_look_is_looked_at_where_recent_tasks_end():
    # eta 1 says "within the second": the recent durations say within a fifth of it
    history = about_one_second().histogram
    assert next_look_in(1, elapsed=1.0) == pytest.approx(0.75)
    assert next_look_in(1, elapsed=1.0, history=history) == pytest.approx(REPOLL_STEP_SECONDS)
    assert next_look_in(1, elapsed=0.9, history=history) == pytest.approx(0.25, abs=0.01)


def test_a_task_running_past_most_recent_ones_and_ending_within_the_second_is_asked_again_soon():
    history = about_one_second().histogram  # 1.00-1.19 s
    assert next_look_in(1, elapsed=1.3, history=history) == pytest.approx(REPOLL_STEP_SECONDS)
    # not overdue (none of them ended yet, and none within the second either): the eta's aim
    assert next_look_in(1, elapsed=0.0, history=Learnt([5.0] * 100).histogram) == pytest.approx(0.75)
    # overdue, but its eta says more than a second: the eta's aim
    assert next_look_in(2, elapsed=1.3, history=history) == pytest.approx(1.75)


def test_recent_durations_only_bring_an_eta_aimed_look_forward():
    later = Learnt([3.9] * 100, exact=True).histogram  # all end late in the eta's last second
    assert next_look_in(3, elapsed=1.0, history=later) == pytest.approx(2.75)
    elsewhere = Learnt([30.0] * 100, exact=True).histogram  # none in the eta's window: it says nothing
    assert next_look_in(3, elapsed=1.0, history=elsewhere) == pytest.approx(2.75)
    assert next_look_in(30, elapsed=1.0, history=about_one_second().histogram) == pytest.approx(18)


def test_without_eta_a_stretch_where_no_recent_task_ends_is_not_looked_at():
    ten_seconds = Learnt([10.0] * SKIP_EVIDENCE, exact=True).histogram
    assert next_look_in(None, elapsed=0.1) == pytest.approx(0.9)  # the first blind window
    # put off to the 0.1-s bin that holds them (9.9-10 s)
    assert 9.9 <= 0.1 + next_look_in(None, elapsed=0.1, history=ten_seconds) < 9.91
    # once there, the next look comes where most of them are over
    assert next_look_in(None, elapsed=9.95, history=ten_seconds) == pytest.approx(REPOLL_STEP_SECONDS)
    # running longer than every recent task: the windows again
    assert next_look_in(None, elapsed=10.2, history=ten_seconds) == next_look_in(None, elapsed=10.2)


def test_without_eta_a_stretch_is_skipped_only_on_enough_evidence():
    few = Learnt([10.0] * (SKIP_EVIDENCE - 1), exact=True).histogram
    assert next_look_in(None, elapsed=0.1, history=few) == pytest.approx(0.9)
    # evenly spread ends: every blind look has tasks ending before it, so none is put off
    spread = Learnt([30 + 270 * i / 1000 for i in range(1000)], exact=True).histogram
    for elapsed in (30.5, 42.5, 100.3, 250.0):
        assert next_look_in(None, elapsed=elapsed, history=spread) == next_look_in(None, elapsed=elapsed)


def test_a_task_running_past_its_first_look_is_looked_at_again_where_recent_tasks_end_within_send():
    provider = ScriptedProvider(running(eta=1), finished())
    learnt = Learnt([1.0 + i / 200 for i in range(200)], exact=True)  # 1-2 s, evenly
    first = look_after_submitting(provider, NOT_AN_EXPLORER, durations=learnt)
    at = first_look_at(learnt, NOT_AN_EXPLORER)
    assert 1.0 < at < 1.8
    # where 3/4 of those still running end, sooner than 3/4 into the second the eta names
    again = 0.75 * (2.0 - at)
    assert again < 0.75
    assert provider.slept == [pytest.approx(at), pytest.approx(again, abs=0.01)]
    assert (first.status, first.count, first.wait_seconds) == ("SUCCEED", 2, 0)


def test_the_wait_for_a_blind_look_put_off_lands_on_it():
    ten_seconds = Learnt([10.0] * SKIP_EVIDENCE, exact=True).histogram
    aimed = plan(None, elapsed=0.1, remaining=900, history=ten_seconds)
    gap = next_look_in(None, elapsed=0.1, history=ten_seconds) - 0.3  # READ_LAG_SECONDS
    assert (aimed.wait_seconds, aimed.settle) == (9, pytest.approx(gap - 9))
    assert plan(None, elapsed=0.1, remaining=900).settle == 0  # a blind window has no aim to land on


def test_after_an_outage_the_looks_are_not_aimed_by_the_recent_durations():
    # the elapsed time leaves the pause out, the recorded durations do not: they would aim wrong
    def second_gap(paused: int) -> float:
        provider = ScriptedProvider(running(eta=1), finished())
        provider.now = SUBMITTED_AT + 1.0 + paused
        poll_task(
            provider,
            "t",
            submitted_at=SUBMITTED_AT,
            count=1,
            max_wait=900,
            paused_seconds=paused,
            durations=about_one_second(),
            clock=provider.clock,
            sleep=provider.sleep,
        )
        return provider.slept[0]

    assert second_gap(0) == pytest.approx(REPOLL_STEP_SECONDS)  # aimed: where recent tasks end
    assert second_gap(30) == pytest.approx(0.75)  # the eta's aim


# --- The aimed looks, at their edges and through a whole invocation -------------------------------


class SlowProvider(ScriptedProvider):
    """Each request takes ``rtt`` seconds of the clock."""

    def __init__(self, *results: TaskResult | Exception, rtt: float) -> None:
        super().__init__(*results)
        self.rtt = rtt

    def task_result(self, task_id: str) -> TaskResult:
        self.now += self.rtt
        return super().task_result(task_id)


def test_looks_are_timed_from_the_providers_reading_half_a_request_in():
    provider = SlowProvider(running(eta=1), finished(), rtt=0.2)
    provider.now = SUBMITTED_AT + 1.0
    poll_task(provider, "t", submitted_at=SUBMITTED_AT, count=1, max_wait=900, clock=provider.clock,
              sleep=provider.sleep)  # fmt: skip
    # read 1.1 s after the submission (half the request in), answered at 1.2: 3/4 into the next second
    # from the reading is 0.75 - (1.2 - 1.1) - 0.1 away
    assert provider.slept == [pytest.approx(0.75 - 0.2)]
    provider = SlowProvider(running(eta=3), rtt=0.2)
    provider.now = SUBMITTED_AT + 1.0
    poll = poll_task(provider, "t", submitted_at=SUBMITTED_AT, count=1, max_wait=900, clock=provider.clock,
                     sleep=provider.sleep)  # fmt: skip
    assert poll.unfinished_until == pytest.approx(1.1 + 3 - 1)  # the reading, half a request in
    # a Wait of whole seconds, and the rest slept, lands the look 3/4 into the eta's last second
    assert poll.wait_seconds + provider.slept[0] == pytest.approx(2.75 - 0.1 - 0.3)  # READ_LAG_SECONDS


def test_a_paused_task_is_read_on_the_time_it_was_not_paused():
    provider = ScriptedProvider(running(eta=3))
    provider.now = SUBMITTED_AT + 40.0
    poll = poll_task(provider, "t", submitted_at=SUBMITTED_AT, count=1, max_wait=900, paused_seconds=30,
                     clock=provider.clock, sleep=provider.sleep)  # fmt: skip
    assert poll.unfinished_until == pytest.approx(10.0 + 3 - 1)


def test_a_check_status_round_without_eta_returns_to_wait_for_the_first_recorded_end():
    provider = ScriptedProvider(blind())
    provider.now = SUBMITTED_AT + 0.1
    ten_seconds = Learnt([10.0] * SKIP_EVIDENCE, exact=True)
    poll = poll_task(provider, "t", submitted_at=SUBMITTED_AT, count=1, max_wait=900, durations=ten_seconds,
                     clock=provider.clock, sleep=provider.sleep)  # fmt: skip
    aimed = plan(None, elapsed=0.1, remaining=899.9, history=ten_seconds.histogram)
    assert (poll.wait_seconds, provider.slept) == (9, [pytest.approx(aimed.settle)])
    assert aimed.settle > 0.4
    provider = ScriptedProvider(*[blind()] * 20)
    provider.now = SUBMITTED_AT + 0.1
    plain = poll_task(provider, "t", submitted_at=SUBMITTED_AT, count=1, max_wait=900, clock=provider.clock,
                      sleep=provider.sleep)  # fmt: skip
    assert plain.count > 1  # the first blind window, looked at from within the function


def test_the_edges_of_aiming():
    assert aiming(Learnt([1.0] * MIN_SAMPLES, exact=True), False) is not None  # 30 are enough
    # the eta's last second holds exactly AIM_EVIDENCE recorded ends: aimed by them
    ten_in_it = Learnt([0.35] * AIM_EVIDENCE + [30.0] * 90, exact=True).histogram
    assert next_look_in(1, elapsed=0.1, history=ten_in_it) < 0.75
    nine_in_it = Learnt([0.35] * (AIM_EVIDENCE - 1) + [30.0] * 91, exact=True).histogram
    assert next_look_in(1, elapsed=0.1, history=nine_in_it) == pytest.approx(0.75)
    # ends recorded before the eta's last second do not aim a look within it
    earlier = Learnt([1.55] * 100, exact=True).histogram
    assert next_look_in(3, elapsed=0.1, history=earlier) == pytest.approx(2.75)
    # overdue from exactly half of the recent tasks
    half = Learnt([0.5] * 50 + [5.0] * 50, exact=True).histogram
    assert next_look_in(1, elapsed=0.6, history=half) == pytest.approx(REPOLL_STEP_SECONDS)


def test_a_blind_look_put_off_comes_at_the_first_recorded_end_and_on_those_still_to_come():
    spread = Learnt([10.0 + 0.5 * i for i in range(SKIP_EVIDENCE)], exact=True).histogram
    assert 9.9 <= 0.1 + next_look_in(None, elapsed=0.1, history=spread) <= 10.0  # within the first one's bin
    # the evidence is what is recorded beyond the time spent: half of 150 is not enough
    split = Learnt([1.0] * 75 + [10.0] * 75, exact=True).histogram
    assert next_look_in(None, elapsed=2.0, history=split) == next_look_in(None, elapsed=2.0)
    # within a window, a look is brought forward to where 3/4 of those still running have ended
    soon = Learnt([2.6] * 100, exact=True).histogram
    assert next_look_in(None, elapsed=2.0, history=soon) == pytest.approx(0.6, abs=0.06)
    assert next_look_in(None, elapsed=2.0) == pytest.approx(BLIND_STEP_SECONDS)


def test_within_a_blind_window_the_look_comes_where_three_quarters_of_those_running_end():
    history = Learnt([1.0] * 50 + [2.6] * 100, exact=True).histogram
    # a third ended before 2 s; of the rest, 3/4 by 2.575 s (linear within the 2.5-2.6 s bin)
    assert next_look_in(None, elapsed=2.0, history=history) == pytest.approx(0.575, abs=0.005)
