"""Cold start and build sizes: each handler's init phase against a minimal boto3 handler, and the size of
each function's and the layer's build.

Init phase, as Lambda runs it: `make build` (sam build) first; then each measurement is a fresh CPython
3.13 interpreter (the functions' runtime; `python -S -B`, see coldstart_init.py) with the function's
environment as template.yaml sets it (Globals + the function's own variables, parameters at their
defaults, resources at made-up names) and the variables Lambda itself sets (AWS_LAMBDA_FUNCTION_NAME,
AWS_REGION, LAMBDA_TASK_ROOT, credentials, ...), and Lambda's sys.path, each directory a read-only copy
(chmod a-w, and PYTHONDONTWRITEBYTECODE=1 since a root process writes anyway; no file may have appeared
after the runs):

1. /var/task: the function's code as `make build` left it (.aws-sam/build/<Function>, with its bytecode);
2. /opt/python: the function's layers as `make build` left them, merged in the template's order as Lambda
   merges them (.aws-sam/build/CommonLayer/python: the cutout package, Powertools and the whole AWS SDK;
   for ConvertFunction and WriteResultFunction also ImagingLayer: Pillow and pillow-heif), with the
   bytecode the layers ship and no other. Their wheels are for arm64: the pure-Python ones import here as
   they are, but an extension module built for another architecture would silently not load (wrapt, for
   one, falls back to its pure-Python wrappers), so each is replaced by the same version's build for this
   host, from this venv, with the libraries its wheel bundles (``<package>.libs``) (the run fails if the
   versions differ; the replaced files are printed);
3. the runtime's own packages (/var/lang/lib/python3.13/site-packages: the AWS SDK), modelled by this
   venv's copies of the same distributions, compiled as the runtime ships them. The layer comes first, so
   a handler imports none of them (the run fails if it does: the layer would be missing a package).

What is timed is the import of the handler module: everything its module level does (imports, settings,
clients); the network is cut off while each handler's clients are discovered (init must not use it).
CPU time is the figure checked (a shared 2-core machine makes wall time noisy); wall time is shown beside
it, and how many modules were compiled from source during the import (0: the build ships bytecode for
every module; `--without-bytecode` removes the shipped bytecode from the copies, to show what it saves).

Reference, in the same run and interleaved with it: a minimal handler that only imports boto3 from the
runtime's packages and makes the same boto3 clients as the function (found by recording botocore's
create_client during an untimed import of the real handler). Each round runs every function's handler
and its minimal handler back to back, so that each ratio compares two inits made under the same load; the
ratio shown is the median of the rounds' ratios, with their quartiles for CPU time (the times: the
medians of each). One init's CPU time varies by a third from run to run on this shared 2-core VM, so
the default is 30 rounds (the median ratio's standard error is then about 0.05). Target: every
handler's ratio of init CPU times <= 1.3.

Sizes: each .aws-sam/build/<resource> in bytes (files only) and zipped (deflate, as `sam package` zips it).

Run: .venv/bin/python bench/bench_coldstart.py   (last line: the figures as JSON; exit 1 if a target is
missed). `--rounds N` changes the number of runs per handler (default 30; the median is reported).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from importlib.metadata import distribution, distributions
from pathlib import Path
from typing import Any

from harness import child_figures, print_header

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))

from tests.support.layer_build import elf_machine  # noqa: E402
from tests.support.template_env import load_template, template_functions  # noqa: E402

CHILD = Path(__file__).with_name("coldstart_init.py")
LAYER_SOURCE = ROOT / "layers" / "common"
BUILD_DIR = ROOT / ".aws-sam" / "build"
RUNTIME_SITE = "/var/lang/lib/python3.13/site-packages"
# What the python3.13 Lambda runtime ships besides the standard library: the AWS SDK and its dependencies.
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
ROUNDS = 30
TARGET_RATIO = 1.3
SEED = 11


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--without-bytecode", action="store_true", help="remove the shipped .pyc first")
    args = parser.parse_args()
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 13):
        raise SystemExit("run it with CPython 3.13, the functions' runtime: .venv/bin/python")
    sizes = build_sizes()
    functions = template_functions()
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as scratch:
        root = Path(scratch)
        layers, runtime, replaced = lambda_tree(root, functions, args.without_bytecode)
        for name in replaced:
            print(f"in the layers' copy, for this host: {name}")
        for name, fn in functions.items():
            fn.update(task=str(root / "var" / "task" / name), layer=str(layers[name]), runtime=str(runtime))
            fn["env"].update(LAMBDA_TASK_ROOT=fn["task"], PYTHONDONTWRITEBYTECODE="1")
        read_only(root)
        before = sorted(root.rglob("*"))
        samples = measure(functions, args.rounds)
        if sorted(root.rglob("*")) != before:
            raise SystemExit("a measured interpreter wrote into the read-only copies")

    figures: dict[str, Any] = {
        "rounds": args.rounds,
        "target_ratio": TARGET_RATIO,
        "without_bytecode": args.without_bytecode,
        "replaced_for_host": replaced,
        "functions": {},
    }
    print(f"\ninit phase, median of {args.rounds} fresh interpreters; minimal: import boto3 + same clients")
    print_header(
        f"{'function':22} {'cpu ms':>7} {'minimal':>8} {'ratio':>6} {'p25-p75':>10}   {'wall ms':>7} "
        f"{'minimal':>8} {'ratio':>6} {'modules':>8} {'compiled':>8} {'peak MB':>7}  clients"
    )
    for name, runs in samples.items():
        row: dict[str, Any] = {}
        for key in ("cpu_ms", "ms"):
            handler = statistics.median(r[key] for r in runs["handler"])
            minimal = statistics.median(r[key] for r in runs["minimal"])
            prefix = "cpu" if key == "cpu_ms" else "wall"
            row[f"{prefix}_ms"] = round(handler, 1)
            row[f"{prefix}_minimal_ms"] = round(minimal, 1)
            ratios = [h[key] / m[key] for h, m in zip(runs["handler"], runs["minimal"], strict=True)]
            row[f"{prefix}_ratio"] = round(statistics.median(ratios), 2)
            row[f"{prefix}_ratio_quartiles"] = [round(q, 2) for q in statistics.quantiles(ratios)[::2]]
        row.update(
            modules=runs["handler"][0]["modules"],
            minimal_modules=runs["minimal"][0]["modules"],
            compiled=runs["handler"][0]["compiled"],
            peak_rss_mb=round(statistics.median(r["peak_rss_mb"] for r in runs["handler"]), 1),
            minimal_peak_rss_mb=round(statistics.median(r["peak_rss_mb"] for r in runs["minimal"]), 1),
            clients=runs["services"],
        )
        figures["functions"][name] = row
        spread = "{:.2f}-{:.2f}".format(*row["cpu_ratio_quartiles"])
        print(
            f"{name:22} {row['cpu_ms']:>7} {row['cpu_minimal_ms']:>8} {row['cpu_ratio']:>6} {spread:>10}   "
            f"{row['wall_ms']:>7} {row['wall_minimal_ms']:>8} {row['wall_ratio']:>6} "
            f"{row['modules']:>8} {row['compiled']:>8} {row['peak_rss_mb']:>7}  {', '.join(row['clients'])}"
        )

    figures["build_bytes"] = sizes
    print(f"\n{'build (.aws-sam/build)':22} {'MB':>7} {'zipped':>7}")
    for name, size in sizes.items():
        print(f"{name:22} {size['bytes'] / 1024**2:>7.2f} {size['zipped'] / 1024**2:>7.2f}")

    misses = [n for n, row in figures["functions"].items() if row["cpu_ratio"] > TARGET_RATIO]
    figures["ok"] = not misses
    print(
        ("\nPASS" if not misses else "\nMISS")
        + f"  every handler's init CPU time over its minimal handler's (median) <= {TARGET_RATIO}"
        + (f" (over: {', '.join(misses)})" if misses else "")
    )
    print(json.dumps({"bench": "coldstart", **figures}))
    return 0 if not misses else 1


# --- The Lambda file system, read-only ------------------------------------------------------------------


def function_layers(name: str) -> tuple[str, ...]:
    """The logical ids of the layers template.yaml gives function ``name``: the Globals', then its own."""
    template = load_template()
    layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    layers = [*layers, *template["Resources"][name]["Properties"].get("Layers", [])]
    return tuple(layer["Ref"] for layer in layers)


def lambda_tree(
    root: Path, functions: dict[str, Any], without_bytecode: bool
) -> tuple[dict[str, Path], Path, list[str]]:
    """Under ``root``: var/task/<function> (each function's build), opt/<layers>/python for each set of
    layers a function has (their builds merged, foreign extension modules replaced) and the runtime's
    site-packages. Returns each function's /opt/python, the runtime's and what was replaced."""
    trees: dict[tuple[str, ...], Path] = {}
    replaced: list[str] = []
    for name in functions:
        shutil.copytree(BUILD_DIR / name, root / "var" / "task" / name, symlinks=True)
        ids = function_layers(name)
        if ids not in trees:
            trees[ids] = root / "opt" / "+".join(ids) / "python"
            for layer_id in ids:
                shutil.copytree(
                    BUILD_DIR / layer_id / "python", trees[ids], symlinks=True, dirs_exist_ok=True
                )
            replaced += native_extensions(trees[ids])
    runtime = root / RUNTIME_SITE.lstrip("/")
    runtime_packages(runtime)
    if without_bytecode:
        for cache in [*(root / "var" / "task").rglob("__pycache__"), *(root / "opt").rglob("__pycache__")]:
            shutil.rmtree(cache)
    return {name: trees[function_layers(name)] for name in functions}, runtime, sorted(set(replaced))


def native_extensions(layer: Path) -> list[str]:
    """Replace each ELF file of the layer built for another architecture than this interpreter's by the
    same file of the same version of its distribution installed here (this venv's); return them."""
    host = elf_machine(Path(sys.executable).resolve())
    owners = {
        Path(d.locate_file(f)).resolve(): d for d in distributions(path=[str(layer)]) for f in d.files or []
    }
    replaced = []
    for path in sorted(p for p in layer.rglob("*.so") if elf_machine(p) not in (None, host)):
        theirs = owners[path.resolve()]
        ours = distribution(theirs.metadata["Name"])
        if ours.version != theirs.version:
            raise SystemExit(f"{path.name}: the layer has {theirs.version}, this venv {ours.version}")
        where, stem = path.parent.relative_to(layer).as_posix(), path.name.split(".")[0]
        if where.endswith(".libs"):  # a bundled library: replaced with its directory, below
            continue
        [native] = [
            f
            for f in ours.files or []
            if f.parent.as_posix() == where and f.name.split(".")[0] == stem and f.suffix == ".so"
        ]
        path.unlink()
        shutil.copy(ours.locate_file(native), path.parent)
        replaced.append(f"{theirs.metadata['Name']} {ours.version}: {native.name} for {path.name}")
    # The libraries a wheel bundles (Pillow's pillow.libs, ...): the host's extension modules name the
    # host's, so the directory goes whole.
    for libs in sorted(
        d for d in layer.glob("*.libs") if any(elf_machine(f) not in (None, host) for f in d.iterdir())
    ):
        theirs = owners[next(libs.iterdir()).resolve()]
        ours = distribution(theirs.metadata["Name"])
        shutil.rmtree(libs)
        libs.mkdir()
        for entry in (f for f in ours.files or [] if f.parts[0] == libs.name):
            shutil.copy(ours.locate_file(entry), libs)
        replaced.append(f"{theirs.metadata['Name']} {ours.version}: {libs.name}/ for this host")
    return replaced


def runtime_packages(site: Path) -> None:
    """The runtime's own AWS SDK: this venv's files of the same distributions, compiled as shipped (by the
    layer's own bytecode target)."""
    for name in RUNTIME_DISTRIBUTIONS:
        installed = distribution(name)
        for entry in installed.files or []:
            if entry.parts[0] != ".." and "__pycache__" not in entry.parts:
                (site / entry).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(installed.locate_file(entry), site / entry)
    subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "-C",
            str(LAYER_SOURCE),
            "bytecode",
            f"TREE={site}",
            f"AS={RUNTIME_SITE}",
            f"RUNTIME_PYTHON={sys.executable}",
        ],
        check=True,
    )


def read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)


# --- Runs -----------------------------------------------------------------------------------------------


def measure(functions: dict[str, dict[str, Any]], rounds: int) -> dict[str, dict[str, Any]]:
    """Discover each handler's boto3 clients (and check where its modules come from), then ``rounds``
    rounds of one handler init and one minimal init per function, back to back in either order, the
    functions in shuffled order."""
    samples: dict[str, dict[str, Any]] = {}
    for name, fn in functions.items():
        discovered = run_child("discover", fn, [])
        check_origins(name, discovered["origins"], allowed={fn["task"], fn["layer"], "stdlib"})
        services = sorted(set(discovered["services"]))
        check_origins(
            f"{name}'s minimal", run_child("minimal", fn, services)["origins"], {fn["runtime"], "stdlib"}
        )
        samples[name] = {"services": services, "handler": [], "minimal": []}
    rng = random.Random(SEED)
    for _ in range(rounds):
        for name in rng.sample(list(functions), len(functions)):
            for mode in rng.sample(["handler", "minimal"], 2):
                samples[name][mode].append(run_child(mode, functions[name], samples[name]["services"]))
    return samples


def check_origins(name: str, origins: dict[str, int], allowed: set[str]) -> None:
    """Fail if ``name``'s init imported a module from a directory other than ``allowed``."""
    elsewhere = {where: count for where, count in origins.items() if where not in allowed}
    if elsewhere:
        raise SystemExit(f"{name} imported modules from {elsewhere}: a package missing from its path")


def run_child(mode: str, fn: dict[str, Any], services: list[str]) -> dict[str, Any]:
    paths = [fn["runtime"]] if mode == "minimal" else [fn["task"], fn["layer"], fn["runtime"]]
    return child_figures(
        [sys.executable, "-S", "-B", str(CHILD), mode, os.pathsep.join(paths), ",".join(services)],
        fn["env"],
        timeout=120,
        failure=f"{mode} init of {fn['task']} failed",
    )


# --- Sizes ----------------------------------------------------------------------------------------------


def build_sizes() -> dict[str, dict[str, int]]:
    started = time.perf_counter()
    result = subprocess.run(["make", "build"], cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"make build failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    print(f"make build: {time.perf_counter() - started:.1f} s")
    return {p.name: tree_sizes(p) for p in sorted(BUILD_DIR.iterdir()) if p.is_dir()}


def tree_sizes(path: Path) -> dict[str, int]:
    files = sorted(f for f in path.rglob("*") if f.is_file())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for file in files:
            zipped.write(file, file.relative_to(path))
    return {"bytes": sum(f.stat().st_size for f in files), "zipped": len(archive.getvalue())}


if __name__ == "__main__":
    sys.exit(main())
