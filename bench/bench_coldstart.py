"""Cold start and build sizes: each handler's init phase against a minimal boto3 handler, and the size of
each function's and the layer's build.

Init phase, as Lambda runs it: a fresh interpreter per measurement (`python -S`: no site-packages),
with the function's environment as template.yaml sets it (Globals + the function's own variables,
parameters at their defaults, resources at made-up names), the variables Lambda itself sets
(AWS_LAMBDA_FUNCTION_NAME, AWS_REGION, LAMBDA_TASK_ROOT, credentials, ...), and Lambda's sys.path: the
function's code (/var/task), then the layer (/opt/python: exactly the packages `make build` put in
.aws-sam/build/CommonLayer, taken from this machine's venv because the build's wheels are arm64), then
the runtime's own packages (boto3, botocore, s3transfer, jmespath, dateutil, six, urllib3). The network
is cut off (any connect or lookup during init fails the run). What is timed is the import of the
handler module: everything its module level does (imports, settings, clients). CPU time is the figure
checked (a shared 2-core machine makes wall time noisy); wall time is shown beside it.

Reference, in the same run and interleaved with it: a minimal handler that only imports boto3 and makes
the same boto3 clients as the function (found by recording botocore's create_client during an untimed
import of the real handler). Target: every handler's median init <= 1.5 x its minimal handler's.

Sizes: `make build` (sam build) first, then the bytes of each .aws-sam/build/<resource> (files only).

Run: .venv/bin/python bench/bench_coldstart.py   (last line: the figures as JSON; exit 1 if a target is
missed). `--rounds N` changes the number of runs per handler (default 15; the median is reported).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import child_figures, print_header

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # last: the measured imports look there after everything else

from tests.support.template_env import template_functions  # noqa: E402

LAYER_SOURCE = ROOT / "layers" / "common"
BUILD_DIR = ROOT / ".aws-sam" / "build"
LAYER_BUILD = BUILD_DIR / "CommonLayer" / "python"
VENV_SITE = (
    ROOT / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
)
# What the python3.13 Lambda runtime ships besides the standard library (the AWS SDK and its deps).
RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "python_dateutil",
    "six",
    "urllib3",
)
ROUNDS = 15
TARGET_RATIO = 1.5
SEED = 11


# --- Child: one init, in a fresh interpreter ------------------------------------------------------------


def child(mode: str, paths: list[str], services: list[str]) -> None:
    """``handler``: import app (the first of ``paths`` is the function's code); ``minimal``: import boto3
    and make ``services`` clients; ``discover``: import the handler and report the boto3 clients made."""
    import socket

    sys.path[:0] = paths

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise OSError("network used during init")

    socket.socket.connect = no_network
    socket.create_connection = no_network
    socket.getaddrinfo = no_network
    made: list[str] = []
    if mode == "discover":
        import botocore.session

        create_client = botocore.session.Session.create_client

        def recording(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            made.append(service_name)
            return create_client(self, service_name, *args, **kwargs)

        botocore.session.Session.create_client = recording
    before = len(sys.modules)
    started, cpu_started = time.perf_counter(), time.process_time()
    if mode == "minimal":
        import boto3

        for service in services:
            boto3.client(service)
    else:
        __import__("app")
    cpu, wall = time.process_time() - cpu_started, time.perf_counter() - started
    print(
        json.dumps(
            {
                "ms": wall * 1000,
                "cpu_ms": cpu * 1000,
                "modules": len(sys.modules) - before,
                "peak_rss_mb": peak_rss_kb() / 1024,
                "services": made,
            }
        )
    )


def peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM), in kB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


# --- Parent ---------------------------------------------------------------------------------------------


def lambda_paths(scratch: Path) -> tuple[Path, Path]:
    """/opt/python and the runtime's site-packages as two directories of links into the venv."""
    layer, runtime = scratch / "opt-python", scratch / "runtime"
    layer.mkdir()
    runtime.mkdir()
    for entry in LAYER_BUILD.iterdir():
        if entry.name == "cutout":
            (layer / "cutout").symlink_to(LAYER_SOURCE / "cutout")
        elif entry.name != "requirements.txt":
            ours = VENV_SITE / entry.name
            (layer / entry.name).symlink_to(ours if ours.exists() else entry)
    for entry in VENV_SITE.iterdir():
        if entry.name.split("-")[0].removesuffix(".py") in RUNTIME_PACKAGES:
            (runtime / entry.name).symlink_to(entry)
    return layer, runtime


def run_child(mode: str, fn: dict[str, Any], services: list[str]) -> dict[str, Any]:
    paths = [str(fn["layer"]), str(fn["runtime"])]
    if mode != "minimal":
        paths.insert(0, fn["code_dir"])
    return child_figures(
        [sys.executable, "-S", __file__, "--child", mode, os.pathsep.join(paths), ",".join(services)],
        fn["env"],
        timeout=120,
        failure=f"{mode} init of {fn['code_dir']} failed",
    )


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build_sizes() -> dict[str, int]:
    started = time.perf_counter()
    result = subprocess.run(["make", "build"], cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"make build failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    print(f"make build: {time.perf_counter() - started:.1f} s")
    return {p.name: tree_bytes(p) for p in sorted(BUILD_DIR.iterdir()) if p.is_dir()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    sizes = build_sizes()
    functions = template_functions()
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as scratch:
        layer, runtime = lambda_paths(Path(scratch))
        for fn in functions.values():
            fn.update(layer=layer, runtime=runtime)
        samples = measure(functions, args.rounds)

    figures: dict[str, Any] = {"rounds": args.rounds, "target_ratio": TARGET_RATIO, "functions": {}}
    print(f"\ninit phase, median of {args.rounds} fresh interpreters; minimal: import boto3 + same clients")
    print_header(
        f"{'function':22} {'cpu ms':>7} {'minimal':>8} {'ratio':>6}   {'wall ms':>7} {'minimal':>8} "
        f"{'ratio':>6} {'modules':>8} {'peak MB':>7}  clients"
    )
    for name, runs in samples.items():
        row: dict[str, Any] = {}
        for key in ("cpu_ms", "ms"):
            handler = statistics.median(r[key] for r in runs["handler"])
            minimal = statistics.median(r[key] for r in runs["minimal"])
            prefix = "cpu" if key == "cpu_ms" else "wall"
            row[f"{prefix}_ms"] = round(handler, 1)
            row[f"{prefix}_minimal_ms"] = round(minimal, 1)
            row[f"{prefix}_ratio"] = round(handler / minimal, 2)
        row.update(
            modules=runs["handler"][0]["modules"],
            peak_rss_mb=round(statistics.median(r["peak_rss_mb"] for r in runs["handler"]), 1),
            minimal_peak_rss_mb=round(statistics.median(r["peak_rss_mb"] for r in runs["minimal"]), 1),
            clients=runs["services"],
        )
        figures["functions"][name] = row
        print(
            f"{name:22} {row['cpu_ms']:>7} {row['cpu_minimal_ms']:>8} {row['cpu_ratio']:>6}   "
            f"{row['wall_ms']:>7} {row['wall_minimal_ms']:>8} {row['wall_ratio']:>6} "
            f"{row['modules']:>8} {row['peak_rss_mb']:>7}  {', '.join(row['clients']) or '-'}"
        )

    figures["build_bytes"] = sizes
    print(f"\n{'build (.aws-sam/build)':22} {'MB':>7}")
    for name, size in sizes.items():
        print(f"{name:22} {size / 1024**2:>7.2f}")

    misses = [n for n, row in figures["functions"].items() if row["cpu_ratio"] > TARGET_RATIO]
    figures["ok"] = not misses
    print(
        ("\nPASS" if not misses else "\nMISS")
        + f"  every handler's init CPU time <= {TARGET_RATIO} x its minimal boto3 handler's"
        + (f" (over: {', '.join(misses)})" if misses else "")
    )
    print(json.dumps({"bench": "coldstart", **figures}))
    return 0 if not misses else 1


def measure(functions: dict[str, dict[str, Any]], rounds: int) -> dict[str, dict[str, Any]]:
    """Discover each handler's boto3 clients, warm the bytecode caches (a deployed package ships them),
    then ``rounds`` rounds of one handler init and one minimal init per function, in shuffled order."""
    samples: dict[str, dict[str, Any]] = {}
    for name, fn in functions.items():
        services = sorted(set(run_child("discover", fn, [])["services"]))
        run_child("minimal", fn, services)
        samples[name] = {"services": services, "handler": [], "minimal": []}
    rng = random.Random(SEED)
    for _ in range(rounds):
        order = [(name, mode) for name in functions for mode in ("handler", "minimal")]
        rng.shuffle(order)
        for name, mode in order:
            samples[name][mode].append(run_child(mode, functions[name], samples[name]["services"]))
    return samples


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3].split(os.pathsep), [s for s in sys.argv[4].split(",") if s])
    else:
        sys.exit(main())
