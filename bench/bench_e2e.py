"""End to end: N real photos through the whole local stack, with the real engine and real Wait states.

The stack is ``cutout_local.stack.LocalStack`` (the real template.yaml and ASL on moto, each Lambda execution
environment a child process, the local Novita-compatible provider with the rembg U²-Net-p engine) with
``fast_waits=False``, a provider rate limit of 6000 a minute, so the rate limit is never the
bottleneck, and the engine on one thread (``ENGINE_THREADS``: on AWS the provider never shares a machine
with the functions; on both cores here its inference would slow their work and the emulator's, which
serves them from this process, and count as our overhead). The six sample photos
(``cutout_local.samples``) are uploaded in turn:
- warm-up (not reported): the six at once. Most cold starts happen here (a later invocation that finds all
  of its function's environments busy starts one more, as on AWS: counted as cold_starts), and the
  engine's time per task inside the running pipeline (median of complete - execute; the pipeline shares
  this machine's two cores with the engine, so this is slower than the engine alone, which is shown too)
  sets the rate of the steady stream;
- learning (not reported): ``cutout.durations.MIN_SAMPLES`` uploads at the steady stream's rate, every
  one looked at at once and recording its duration, so that what follows runs as it does once the
  provider's recent durations are known (SendFunction's first look timed from them);
- steady (default): one upload every ``STEADY_FACTOR`` x that time, so provider queueing stays near 0;
- burst (``--phases steady,burst``): all N at once. One engine worker, so queueing dominates; and the
  local stack runs at most 8 environments per function and 8 SQS batches at a time (or the template's
  ReservedConcurrentExecutions / MaximumConcurrency), on this machine's cores, where AWS would scale
  further (see "local only" below). Shown for the counts and for contrast, not checked.
Each phase waits for all its cutouts before the next starts.

Definitions, per image (one wall clock: this process's ``time.time()``; the provider runs in this process
and stamps its tasks with the same clock):
- t0: the PutObject call returned (the upload is in the input bucket);
- arrival: the first look for the cutout (a HEAD every ``WATCH_SECONDS``) that finds it;
- end to end = arrival - t0;
- from the provider's task-result body, ``extra.debug_info`` (epoch ms): provider queueing =
  execute_time - submit_time (waiting behind other tasks: one engine worker), engine = complete_time -
  execute_time (the provider's processing: fetching the input through the presigned URL, decoding, the
  U²-Net-p inference, PNG encoding, storing the result; the inference alone, timed around
  ``Engine.cutout``, is shown separately);
- OVERHEAD (ours) = end to end - provider queueing - engine = (submit_time - t0) + (arrival -
  complete_time): everything before the provider accepted the task and after it finished it, nothing of
  the provider's own time. Its parts add up to it exactly:
  admission: t0 -> SubmitFunction starts (SQS delivery) -> execution started (checks, slot reserved,
  StartExecution; the history's ExecutionStarted) -> SendFunction starts (WaitForSlot) -> provider accepted
  (presign, idempotency record, POST);
  after the engine: provider completed -> the look that saw SUCCEED returns (detection: SendFunction's or
  CheckStatus's) -> WriteResult starts -> WriteResult returns (cutout written) -> seen in the bucket
  (observation lag).
- local only (inside the overhead and its parts, shown separately, and an overhead without them): an
  invocation that finds all of its function's environments busy at the local cap (8, or the function's
  ReservedConcurrentExecutions) waits for one to be free, where AWS would start another (or throttle at
  the reserved concurrency); and an SQS batch waits for one of the mapping's delivery slots (8, or its
  MaximumConcurrency), so in a burst an upload may wait for the batches before it (moto receives the
  message inside the PutObject; AWS's pollers have their own latency instead). The part of those waits
  outside the provider's [submit, complete] is counted. Cold starts are not local only: AWS has them too.

Counts for the README's cost section, from the same run: Lambda invocations per image by function (every
invocation, as ``stack.aws.invocations`` records it, collected here by wrapping the runtime's ``run``:
duration in the handler, without the wait for an environment or a cold start's Init; cold starts are
counted), state transitions per image (``*StateEntered`` events of each execution's history; the polling
benchmark's billing adds 1 for the start of the execution), polls per image (task-result requests made by
SendFunction and CheckStatus: the ``count`` of the last ``$.poll``; the provider's own request counters
per image are in the JSON), and GB-s per
image at each function's MemorySize.

Target (exit 1 if missed): in the steady stream, the median overhead per image <= 0.5 s (as measured, local
waits included), and every upload ends as a cutout.

Run: .venv/bin/python bench/bench_e2e.py [--images N] [--phases steady,burst] [--interval S] [--rows F]
(last line: the figures as JSON; exit 1 if a target is missed)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "common"))
sys.path.insert(0, str(ROOT))

from cutout.durations import MIN_SAMPLES  # noqa: E402
from cutout_local.aws import lambda_runtime  # noqa: E402
from cutout_local.provider import Engine  # noqa: E402
from cutout_local.samples import sample_photos  # noqa: E402
from cutout_local.stack import LocalStack  # noqa: E402

IMAGES = 50
PER_MINUTE = 6000  # the provider's limit and the template's SubmissionsPerMinute: never the bottleneck
STEADY_FACTOR = 2.0  # steady stream: one upload every STEADY_FACTOR x the engine's time per task (warm-up)
WATCH_SECONDS = 0.05  # how often the output bucket is listed
# The provider's engine gets one of this machine's two cores: on AWS the provider never shares a machine
# with the functions, and an engine on both cores slows the pipeline's own work (its overhead) by its
# inference, not by anything of ours.
ENGINE_THREADS = 1
PHASE_TIMEOUT = 240.0
TARGET_MEDIAN_OVERHEAD = 0.5  # s, steady stream (issue 15)
FUNCTIONS = (
    "SubmitFunction",
    "SendFunction",
    "CheckStatusFunction",
    "WriteResultFunction",
    "RecordFailureFunction",
)
ADMISSION = (
    ("sqs_to_submit", "upload -> SubmitFunction starts"),
    ("submit_to_execution", "SubmitFunction -> execution started"),
    ("execution_to_send", "execution started -> SendFunction starts"),
    ("send_to_provider", "SendFunction starts -> provider accepted"),
)
AFTER_ENGINE = (
    ("detection", "provider completed -> the look that saw SUCCEED returns"),
    ("detection_to_write", "-> WriteResult starts"),
    ("write", "WriteResult runs"),
    ("observed", "-> seen in the bucket"),
)


# --- Instrumentation (this process only: class attributes wrapped before the stack starts) -----------


@dataclass
class Call:
    function: str
    memory_mb: int
    called: float
    started: float  # its environment got it: after any wait for a free one and a cold start's Init
    ended: float
    event: Any
    result: Any
    errored: bool
    environment_wait: float  # for a free environment at the function's cap (local only)
    init: float  # the Init phase of a cold start (0 when warm)

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    inferences: list[tuple[float, float]] = field(default_factory=list)
    _saved: list[tuple[Any, str, Any]] = field(default_factory=list)

    def install(self) -> None:
        runtime_run = lambda_runtime.ProcessRuntime.run
        engine_cutout = Engine.cutout
        calls, inferences = self.calls, self.inferences

        def run(runtime: Any, fn: Any, event: Any = None) -> lambda_runtime.Invocation:
            i = runtime_run(runtime, fn, event)
            result = json.loads(i.payload) if i.payload else None
            errored = i.error is not None
            call = Call(
                i.function, int(fn.memory_size), i.called, i.started, i.ended, i.event, result, errored,
                i.waited, i.init_seconds,
            )  # fmt: skip
            calls.append(call)
            return i

        def cutout(engine: Any, image: Any) -> Any:
            began = time.time()
            try:
                return engine_cutout(engine, image)
            finally:
                inferences.append((began, time.time()))

        self._saved = [
            (lambda_runtime.ProcessRuntime, "run", runtime_run),
            (lambda_runtime.ProcessRuntime, "echo_logs", lambda_runtime.ProcessRuntime.echo_logs),
            (Engine, "cutout", engine_cutout),
        ]
        lambda_runtime.ProcessRuntime.run = run  # type: ignore[method-assign]
        # The functions' output (their log lines, the metrics Powertools prints) stays off this report.
        lambda_runtime.ProcessRuntime.echo_logs = False
        Engine.cutout = cutout  # type: ignore[method-assign]

    def uninstall(self) -> None:
        for owner, name, original in self._saved:
            setattr(owner, name, original)
        self._saved = []


class BucketWatcher(threading.Thread):
    """Looks for each expected upload's outcome (its cutout or its failure record) every WATCH_SECONDS, a
    HEAD per key until one of them is there; remembers when each key was first seen. (Listing the whole
    output bucket that often would cost the emulator, which serves the pipeline's own calls in this
    process, more the more cutouts there are.)"""

    def __init__(self, stack: LocalStack) -> None:
        super().__init__(name="bench-bucket-watcher", daemon=True)
        self.s3 = stack.client("s3")
        self.bucket = stack.outputs["OutputBucketName"]
        self.seen: dict[str, float] = {}
        self._pending: list[tuple[str, ...]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def expect(self, *keys: str) -> None:
        """Watch for the first of ``keys`` to appear."""
        with self._lock:
            self._pending.append(keys)

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def run(self) -> None:
        while not self._stop.is_set():
            began = time.time()
            with self._lock:
                pending = list(self._pending)
            for keys in pending:
                for key in keys:
                    if self._exists(key):
                        self.seen.setdefault(key, time.time())
                        with self._lock:
                            self._pending.remove(keys)
                        break
            self._stop.wait(max(0.0, WATCH_SECONDS - (time.time() - began)))

    def stop(self) -> None:
        self._stop.set()
        self.join()


# --- One phase ------------------------------------------------------------------------------------------


@dataclass
class Upload:
    key: str
    photo: str
    put_began: float
    t0: float  # PutObject returned

    @property
    def cutout_key(self) -> str:
        return "cutouts/" + self.key.removeprefix("uploads/").rsplit(".", 1)[0] + ".png"

    @property
    def failure_key(self) -> str:
        return f"failures/{self.key}.json"


def photos() -> list[tuple[str, bytes]]:
    return [(name, path.read_bytes()) for name, path in sample_photos().items()]


def engine_seconds_per_photo(engine: Engine, samples: list[tuple[str, bytes]]) -> dict[str, float]:
    """The engine's time per photo in this process (decode + inference + PNG encode), model loaded first."""
    engine.load()
    engine.remove(samples[0][1])  # warm
    times = {}
    for name, data in samples:
        began = time.perf_counter()
        engine.remove(data)
        times[name] = time.perf_counter() - began
    return times


def engine_seconds_in_pipeline(stack: LocalStack, recorder: Recorder, uploads: list[Upload]) -> list[float]:
    keys = {u.key for u in uploads}
    task_ids = [
        c.result["task_id"]
        for c in recorder.calls
        if c.function == "SendFunction"
        and c.event["source"]["key"] in keys
        and isinstance(c.result, dict)
        and c.result.get("task_id")
    ]
    debug = [provider_task(stack, t)["extra"]["debug_info"] for t in task_ids]
    return [(int(d["complete_time_ms"]) - int(d["execute_time_ms"])) / 1000 for d in debug]


def run_phase(
    stack: LocalStack,
    watcher: BucketWatcher,
    phase: str,
    samples: list[tuple[str, bytes]],
    n: int,
    interval: float,
) -> tuple[list[Upload], float]:
    """Upload n photos, one every ``interval`` seconds (0: all at once); wait for every outcome."""
    uploads = []
    began = time.time()
    for i in range(n):
        name, data = samples[i % len(samples)]
        if interval:
            time.sleep(max(0.0, began + i * interval - time.time()))
        key = f"uploads/bench-{phase}/{i:03d}-{name}"
        put_began = time.time()
        stack.upload(key, data)
        uploads.append(Upload(key, name, put_began, time.time()))
        watcher.expect(uploads[-1].cutout_key, uploads[-1].failure_key)
    deadline = time.monotonic() + PHASE_TIMEOUT
    while not all(u.cutout_key in watcher.seen or u.failure_key in watcher.seen for u in uploads):
        if time.monotonic() > deadline:
            missing = [u.key for u in uploads if u.cutout_key not in watcher.seen]
            raise TimeoutError(f"{phase}: no outcome after {PHASE_TIMEOUT:.0f} s for {missing}")
        time.sleep(WATCH_SECONDS)
    return uploads, began


def provider_task(stack: LocalStack, task_id: str) -> dict[str, Any]:
    query = urllib.parse.urlencode({"task_id": task_id})
    request = urllib.request.Request(  # noqa: S310 - the local provider over http
        f"{stack.provider.base_url}/v3/async/task-result?{query}",
        headers={"Authorization": f"Bearer {stack.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - as above
        return json.loads(response.read())


def poll_of(call: Call) -> dict[str, Any]:
    """The ``$.poll`` a look returned: SendFunction's within the execution state it returns."""
    return call.result["poll"] if call.function == "SendFunction" else call.result


def submit_keys(call: Call) -> list[str]:
    keys = []
    for record in call.event.get("Records", []):
        body = json.loads(record["body"])
        keys += [urllib.parse.unquote_plus(r["s3"]["object"]["key"]) for r in body.get("Records", [])]
    return keys


def analyse(
    stack: LocalStack,
    recorder: Recorder,
    watcher: BucketWatcher,
    phase: str,
    uploads: list[Upload],
    began: float,
    executions: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    keys = {u.key for u in uploads}
    calls = [c for c in recorder.calls if c.called >= began]
    submits = [c for c in calls if c.function == "SubmitFunction" and set(submit_keys(c)) & keys]
    by_task: dict[str, list[Call]] = {}
    sends: dict[str, list[Call]] = {}
    for c in calls:
        if c.function in ("CheckStatusFunction", "WriteResultFunction", "RecordFailureFunction"):
            by_task.setdefault(str(c.event.get("task_id")), []).append(c)
        elif c.function == "SendFunction" and c.event["source"]["key"] in keys:
            sends.setdefault(c.event["source"]["key"], []).append(c)

    rows: list[dict[str, Any]] = []
    phase_calls: list[Call] = list(submits)
    transitions: list[int] = []
    states: dict[str, int] = {}
    failures = []
    for u in uploads:
        if u.cutout_key not in watcher.seen:
            failures.append(u.key)
            continue
        send = next(c for c in sends[u.key] if isinstance(c.result, dict) and c.result.get("task_id"))
        task_id = send.result["task_id"]
        mine = by_task.get(task_id, [])
        phase_calls += sends[u.key] + mine
        checks = [c for c in mine if c.function == "CheckStatusFunction"]
        looks = [send, *checks]  # SendFunction looks after submitting (cutout.looks.after_submission)
        detect = min((c for c in looks if poll_of(c).get("status") == "SUCCEED"), key=lambda c: c.ended)
        write = next(c for c in mine if c.function == "WriteResultFunction" and not c.errored)
        submit = next(c for c in submits if u.key in submit_keys(c))
        debug = provider_task(stack, task_id)["extra"]["debug_info"]
        submitted, executed, completed = (
            int(debug[f"{k}_time_ms"]) / 1000 for k in ("submit", "execute", "complete")
        )
        inference = [b - a for a, b in recorder.inferences if executed <= a and b <= completed + 0.001]
        history = stack.aws.execution_history(executions[u.key]["executionArn"])
        started_at = next(e for e in history if e["type"] == "ExecutionStarted")["timestamp"].timestamp()
        entered = [
            e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")
        ]
        transitions.append(len(entered))
        for name in entered:
            states[name] = states.get(name, 0) + 1
        arrival = watcher.seen[u.cutout_key]
        chain = [submit, *sends[u.key], *mine]
        row = {
            "key": u.key,
            "put": u.t0 - u.put_began,
            "e2e": arrival - u.t0,
            "queue": executed - submitted,
            "engine": completed - executed,
            "inference": inference[0] if inference else math.nan,
            "overhead": (submitted - u.t0) + (arrival - completed),
            "admission": submitted - u.t0,
            "after_engine": arrival - completed,
            "sqs_to_submit": submit.started - u.t0,
            "submit_to_execution": started_at - submit.started,
            "execution_to_send": send.started - started_at,
            "send_to_provider": submitted - send.started,
            "detection": detect.ended - completed,
            "detection_to_write": write.started - detect.ended,
            "write": write.ended - write.started,
            "observed": arrival - write.ended,
            "environment_wait": wait_outside(chain, submitted, completed),
            "sqs_delivery_wait": max(0.0, submit.called - u.t0),
            "overhead_without_local": (submitted - u.t0)
            + (arrival - completed)
            - wait_outside(chain, submitted, completed)
            - max(0.0, submit.called - u.t0),
            "first_check_after_submit": min(c.started for c in checks) - submitted if checks else math.nan,
            "found_at_first_request": poll_of(detect).get("count") == 1,
            "found_in_send": detect is send,
            "polls": max(poll_of(c).get("count", 0) for c in looks),
            "check_invocations": len(checks),
            "repolls_in_lambda": sum(
                1 for c in looks if poll_of(c).get("count", 0) - int(c.event.get("count", 0)) > 1
            ),
            "transitions": len(entered),
        }
        rows.append(row)

    n_ok = len(rows)
    last_arrival = max(watcher.seen[u.cutout_key] for u in uploads if u.cutout_key in watcher.seen)
    wall = last_arrival - uploads[0].put_began
    figures: dict[str, Any] = {
        "images": len(uploads),
        "cutouts": n_ok,
        "failures": failures,
        "wall_s": round(wall, 2),
        "images_per_minute": round(60 * n_ok / wall, 1),
        "upload_interval_s": None,
    }
    for name in (
        "e2e",
        "queue",
        "engine",
        "inference",
        "overhead",
        "admission",
        "after_engine",
        *(k for k, _ in ADMISSION),
        *(k for k, _ in AFTER_ENGINE),
        "environment_wait",
        "sqs_delivery_wait",
        "overhead_without_local",
        "first_check_after_submit",
        "put",
    ):
        figures[name] = spread([r[name] for r in rows])
    figures["detection_found_at_first_request"] = spread(
        [r["detection"] for r in rows if r["found_at_first_request"]]
    )
    figures["detection_found_later"] = spread(
        [r["detection"] for r in rows if not r["found_at_first_request"]]
    )
    figures["found_at_first_request_share"] = round(sum(r["found_at_first_request"] for r in rows) / n_ok, 2)
    figures["found_in_send_share"] = round(sum(r["found_in_send"] for r in rows) / n_ok, 2)
    figures["repolls_in_lambda_per_image"] = round(sum(r["repolls_in_lambda"] for r in rows) / n_ok, 2)
    figures["polls_per_image"] = {
        "mean": round(statistics.mean(r["polls"] for r in rows), 2),
        "median": statistics.median(r["polls"] for r in rows),
        "max": max(r["polls"] for r in rows),
    }
    figures["state_transitions_per_image"] = {
        "state_entered_mean": round(statistics.mean(transitions), 2),
        "state_entered_median": statistics.median(transitions),
        "state_entered_max": max(transitions),
        "billed_mean_with_start": round(statistics.mean(transitions) + 1, 2),
        "by_state_per_image": {s: round(k / n_ok, 2) for s, k in sorted(states.items(), key=lambda x: -x[1])},
    }
    figures["lambda"] = lambda_figures(phase_calls, n_ok)
    figures["rows"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    return figures


def wait_outside(calls: list[Call], submitted: float, completed: float) -> float:
    """The time these invocations waited for a free environment (at the local cap) outside the provider's
    [submitted, completed]: the share of those waits that is inside the overhead."""
    total = 0.0
    for c in calls:
        waited_until = c.called + c.environment_wait
        inside = max(0.0, min(waited_until, completed) - max(c.called, submitted))
        total += c.environment_wait - inside
    return total


def lambda_figures(calls: list[Call], images: int) -> dict[str, Any]:
    out = {}
    for function in FUNCTIONS:
        mine = [c for c in calls if c.function == function]
        if not mine:
            out[function] = {"per_image": 0.0}
            continue
        seconds = [c.seconds for c in mine]
        out[function] = {
            "per_image": round(len(mine) / images, 2),
            "errors": sum(c.errored for c in mine),
            "ms_median": round(1000 * statistics.median(seconds)),
            "ms_p95": round(1000 * percentile(seconds, 0.95)),
            "ms_mean": round(1000 * statistics.mean(seconds)),
            "memory_mb": mine[0].memory_mb,
            "gb_s_per_image": round(sum(seconds) * mine[0].memory_mb / 1024 / images, 4),
            "environment_wait_ms_median": round(1000 * statistics.median(c.environment_wait for c in mine)),
            "cold_starts": sum(c.init > 0 for c in mine),
        }
    out["total"] = {
        "per_image": round(sum(v["per_image"] for v in out.values()), 2),
        "gb_s_per_image": round(sum(v.get("gb_s_per_image", 0.0) for v in out.values()), 4),
    }
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def spread(values: list[float]) -> dict[str, float | None]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return {"median": None, "p95": None, "mean": None, "n": 0}
    return {
        "median": round(statistics.median(values), 3),
        "p95": round(percentile(values, 0.95), 3),
        "mean": round(statistics.mean(values), 3),
        "n": len(values),
    }


# --- Report ---------------------------------------------------------------------------------------------


def print_phase(phase: str, f: dict[str, Any]) -> None:
    interval = f["upload_interval_s"]
    how = f"one upload every {interval:.2f} s" if interval else "all uploaded at once"
    print(
        f"\n== {phase}: {f['cutouts']}/{f['images']} cutouts, {how}; {f['wall_s']} s from the first upload "
        f"to the last cutout = {f['images_per_minute']} images/min"
    )
    print(f"   {'seconds per image':48} {'median':>7} {'p95':>7} {'mean':>7}")

    def line(label: str, key: str, indent: int = 3) -> None:
        cells = " ".join(
            "      -" if f[key][k] is None else f"{f[key][k]:>7.3f}" for k in ("median", "p95", "mean")
        )
        n = f" (n={f[key]['n']})" if f[key]["n"] != f["cutouts"] else ""
        print(f"{' ' * indent}{label:{48 + 3 - indent}} {cells}{n}")

    line("end to end (PutObject returned -> cutout listed)", "e2e")
    line("provider queueing (execute - submit)", "queue")
    line("engine (complete - execute)", "engine")
    line("of which inference (rembg remove)", "inference", 5)
    line("OVERHEAD (ours) = e2e - queueing - engine", "overhead")
    line("admission (upload -> provider accepted)", "admission", 5)
    for key, label in ADMISSION:
        line(label, key, 7)
    line("after the engine (completed -> listed)", "after_engine", 5)
    for key, label in AFTER_ENGINE:
        line(label, key, 7)
    line("local only: waits for a free environment", "environment_wait", 5)
    line("local only: upload -> SubmitFunction called", "sqs_delivery_wait", 5)
    line("OVERHEAD without those local-only waits", "overhead_without_local")
    line("detection, task done at the first request", "detection_found_at_first_request", 5)
    line("detection, found by a later request", "detection_found_later", 5)
    line("first CheckStatus, after provider accepted", "first_check_after_submit")
    line("PutObject itself (not counted)", "put")
    polls = f["polls_per_image"]
    st = f["state_transitions_per_image"]
    print(
        f"   polls per image: mean {polls['mean']}, median {polls['median']}, max {polls['max']}; the first "
        f"request found the task done: {f['found_at_first_request_share']:.0%}; found within SendFunction: "
        f"{f['found_in_send_share']:.0%}; a function looked again within itself "
        f"{f['repolls_in_lambda_per_image']} times per image"
    )
    print(
        f"   state transitions per image (StateEntered): mean {st['state_entered_mean']}, median "
        f"{st['state_entered_median']}, max {st['state_entered_max']} (+1 execution start = "
        f"{st['billed_mean_with_start']} billed); by state: "
        + ", ".join(f"{k} {v}" for k, v in st["by_state_per_image"].items())
    )
    print(
        f"   {'Lambda':22} {'per image':>9} {'ms med':>7} {'p95':>7} {'mean':>7} {'MB':>5} {'GB-s/img':>9} "
        f"{'env wait ms med':>15} {'cold':>4}"
    )
    for function in FUNCTIONS:
        v = f["lambda"][function]
        if not v["per_image"]:
            print(f"   {function:22} {0:>9}")
            continue
        print(
            f"   {function:22} {v['per_image']:>9} {v['ms_median']:>7} {v['ms_p95']:>7} {v['ms_mean']:>7} "
            f"{v['memory_mb']:>5} {v['gb_s_per_image']:>9} {v['environment_wait_ms_median']:>15} "
            f"{v['cold_starts']:>4}"
        )
    t = f["lambda"]["total"]
    print(f"   {'total':22} {t['per_image']:>9} {'':>7} {'':>7} {'':>7} {'':>5} {t['gb_s_per_image']:>9}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--images", type=int, default=IMAGES, help=f"images per phase (default {IMAGES})")
    parser.add_argument("--phases", default="steady", help="comma-separated: steady, burst (default: steady)")
    parser.add_argument("--interval", type=float, default=None, help="steady upload interval in s")
    parser.add_argument(
        "--rows", type=Path, default=None, help="also write every image's figures here (JSON)"
    )
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    assert set(phases) <= {"steady", "burst"}, f"unknown phase in {phases}"

    samples = photos()
    recorder = Recorder()
    recorder.install()
    started = time.monotonic()
    figures: dict[str, Any] = {}
    try:
        with LocalStack(
            fast_waits=False,
            per_minute=PER_MINUTE,
            sqs_poll_seconds=None,
            provider={"engine_threads": ENGINE_THREADS},
        ) as stack:
            setup = time.monotonic() - started
            engine_times = engine_seconds_per_photo(stack.provider.engine, samples)
            per_photo = statistics.mean(engine_times.values())
            print(
                f"local stack up in {setup:.1f} s; engine alone, per photo (decode + inference + encode): "
                + ", ".join(f"{k} {v:.2f} s" for k, v in engine_times.items())
                + f"; mean {per_photo:.2f} s = {60 / per_photo:.0f} images/min"
            )
            recorder.inferences.clear()
            watcher = BucketWatcher(stack)
            watcher.start()
            try:
                # Warm-up, not reported: the six photos at once. Most cold starts happen here, and the
                # engine's time per task inside the running pipeline (which shares this machine's two
                # cores with it) sets the steady stream's rate.
                print("warm-up: the six photos at once...", file=sys.stderr, flush=True)
                warm, _ = run_phase(stack, watcher, "warmup", samples, len(samples), 0.0)
                stack.aws.wait_for_executions(timeout=PHASE_TIMEOUT)
                in_pipeline = statistics.median(engine_seconds_in_pipeline(stack, recorder, warm))
                interval = args.interval or round(STEADY_FACTOR * in_pipeline, 2)
                print(
                    f"warm-up: engine (complete - execute) in the pipeline: median {in_pipeline:.2f} s "
                    f"a task; steady stream: one upload every {STEADY_FACTOR} x that = {interval:.2f} s"
                )
                # Learning, not reported: MIN_SAMPLES uploads at the steady interval, every one looked at
                # at once and recording its duration (cutout.durations), so that the phases measure
                # the pipeline as it runs once it knows the provider's recent durations.
                print(f"learning: {MIN_SAMPLES} uploads, one every {interval:.2f} s...", file=sys.stderr)
                run_phase(stack, watcher, "learning", samples, MIN_SAMPLES, interval)
                stack.aws.wait_for_executions(timeout=PHASE_TIMEOUT)
                for phase in phases:
                    gap = interval if phase == "steady" else 0.0
                    stats_before = provider_counters(stack)
                    how = f"one every {gap:.2f} s" if gap else "all at once"
                    print(f"{phase}: {args.images} uploads, {how}...", file=sys.stderr, flush=True)
                    uploads, began = run_phase(stack, watcher, phase, samples, args.images, gap)
                    done = stack.aws.wait_for_executions(timeout=PHASE_TIMEOUT)
                    executions = {
                        json.loads(e["input"])["source"]["key"]: e
                        for e in done
                        if json.loads(e["input"])["source"]["key"].startswith(f"uploads/bench-{phase}/")
                    }
                    stats_after = provider_counters(stack)
                    figures[phase] = analyse(stack, recorder, watcher, phase, uploads, began, executions)
                    figures[phase]["upload_interval_s"] = gap
                    figures[phase]["provider_requests_per_image"] = {
                        k: round((stats_after[k] - stats_before[k]) / len(uploads), 2) for k in stats_after
                    }
                    print_phase(phase, figures[phase])
            finally:
                watcher.stop()
    finally:
        recorder.uninstall()

    targets = {}
    if "steady" in figures:
        median = figures["steady"]["overhead"]["median"]
        targets["steady_median_overhead"] = {
            "ok": median <= TARGET_MEDIAN_OVERHEAD and not figures["steady"]["failures"],
            "detail": f"median overhead {median:.3f} s <= {TARGET_MEDIAN_OVERHEAD} s",
        }
    for phase, f in figures.items():
        targets[f"{phase}_every_upload_a_cutout"] = {
            "ok": not f["failures"],
            "detail": f"{f['cutouts']}/{f['images']} cutouts",
        }
    print()
    for name, target in targets.items():
        print(f"{'PASS' if target['ok'] else 'MISS'}  {name}: {target['detail']}")
    ok = all(t["ok"] for t in targets.values())
    seconds = time.monotonic() - started
    print(f"({seconds:.0f} s in all)")
    rows = {phase: f.pop("rows") for phase, f in figures.items()}
    if args.rows:
        args.rows.write_text(json.dumps(rows, indent=1))
    print(
        json.dumps(
            {
                "bench": "e2e",
                "images_per_phase": args.images,
                "provider_per_minute": PER_MINUTE,
                "engine_alone_s_per_photo": {k: round(v, 3) for k, v in engine_times.items()},
                "engine_in_pipeline_s_median": round(in_pipeline, 3),
                "steady_interval_s": interval,
                "figures": figures,
                "targets": {k: v["ok"] for k, v in targets.items()},
                "seconds": round(seconds, 1),
                "ok": ok,
            }
        )
    )
    return 0 if ok else 1


def provider_counters(stack: LocalStack) -> dict[str, int]:
    from cutout_local.provider import key_id

    k = stack.provider.stats()["keys"].get(key_id(stack.api_key), {})
    return {name: int(k.get(name, 0)) for name in ("submit_requests", "accepted", "polls", "downloads")}


if __name__ == "__main__":
    sys.exit(main())
