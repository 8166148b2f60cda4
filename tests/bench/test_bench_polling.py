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
    assert outcome.polls >= 1
    assert outcome.states.get("WriteResult") == 1  # the loop ended in the cutout being written
    assert outcome.delay >= 0
