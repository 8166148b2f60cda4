"""The polling benchmark (bench/bench_polling.py) replays tasks through the real ASL with its own model of
the functions: one task per policy and eta mode must run to Done, so that a field the state machine comes
to read (as `superseded`, `paused_seconds` and `Written.wait_seconds` did) cannot leave the benchmark
broken unnoticed. Loaded from its path (a script that imports bench/harness.py by name)."""

import importlib.util
import json
import random
import sys

import pytest

from tests.support.template_env import ROOT

BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_polling", BENCH / "bench_polling.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH))
    sys.modules["bench_polling"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["bench_polling"]
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("mode", ["accurate", "noisy", "absent"])
@pytest.mark.parametrize("policy", ["ours", "fixed_5s"])
def test_one_task_runs_through_the_state_machine_to_its_cutout(bench, mode, policy):
    asl = json.loads((ROOT / "statemachine" / "cutout.asl.json").read_text())
    strategy = bench.ours if policy == "ours" else bench.fixed(5)
    outcome = bench.through_state_machine(asl, strategy, 30.0, mode, random.Random(1))
    assert outcome.requests >= 1
    assert outcome.states.get("WriteResult") == 1  # the loop ended in the cutout being written
    assert outcome.delay >= 0


def test_a_users_durations_file_is_a_list_or_an_object_with_its_eta_mode(bench, tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text("[1.5, 4, 30]")
    assert bench.from_file(plain).durations == (1.5, 4.0, 30.0)
    assert bench.from_file(plain).eta_modes == ("accurate", "noisy", "absent")
    with_mode = tmp_path / "mine.json"
    with_mode.write_text(json.dumps({"durations": [2, 3], "eta": "absent"}))
    assert (bench.from_file(with_mode).durations, bench.from_file(with_mode).eta_modes) == (
        (2.0, 3.0),
        ("absent",),
    )


@pytest.mark.parametrize("content", ["[]", '["3"]', "[-1]", '{"durations": [2], "eta": "exact"}', "{}"])
def test_a_durations_file_it_cannot_replay_is_refused(bench, tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SystemExit):
        bench.from_file(path)


def test_the_requests_bound_counts_a_second_request_for_each_task_the_blind_look_comes_before(bench):
    # Durations 10 s apart: a look at 30 s finds 30 on time and 10, 20 late; 40 needs a second request.
    assert bench.requests_bound((10.0, 20.0, 30.0, 40.0)) == pytest.approx(1.25)
    # All alike: one look at their end catches every one at once.
    assert bench.requests_bound((3.0,) * 10) == 1.0


def test_a_users_file_is_replayed_and_judged_against_the_fixed_poller(bench, tmp_path, capsys):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"durations": [2.0, 3.5, 7.0], "eta": "accurate"}))
    bench.main(["--durations", str(path)])
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(figures["figures"]["mine.json"]) == {"accurate"}
    assert set(figures["figures"]["mine.json"]["accurate"]) == {"ours", "fixed_5s"}
    assert "mine.json/accurate: transitions <= fixed 5 s" in figures["targets"]
