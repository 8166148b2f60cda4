"""Summarise a finished `mutmut run`: the counts, the score and the surviving mutants grouped by module.

Run from the project root after `mutmut run`, with the venv that has mutmut (it calls mutmut's own
`results` and `show` commands in this one process: a `mutmut show` subprocess per survivor costs seconds).
    python tools/mutation_report.py [--diffs FILE] [--fail-under PERCENT]
score = killed / total (every mutant, "no tests" included); killed / (killed + survived) is also printed.
"""

import argparse
import contextlib
import io
import sys
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.__main__ import cli


def mutmut(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(list(args), standalone_mode=False)
    return out.getvalue()


def statuses() -> dict[str, str]:
    result = {}
    for line in mutmut("results", "--all", "true").splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            result[name] = status
    return result


def module_of(mutant: str) -> str:
    """cutout.keys.x_func__mutmut_3 and cutout.keys.xǁClassǁmethod__mutmut_3 -> cutout.keys"""
    return mutant.split("__mutmut_")[0].rpartition(".")[0]


def one_line(diff: str) -> str:
    """The first removed and the first added line of a mutant's diff."""
    lines = diff.splitlines()
    old = next((ln[1:].strip() for ln in lines if ln.startswith("-") and not ln.startswith("---")), "")
    new = next((ln[1:].strip() for ln in lines if ln.startswith("+") and not ln.startswith("+++")), "")
    return f"{old[:70]}  ->  {new[:70] or '(line removed)'}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--diffs", help="write every survivor's `mutmut show` diff to this file")
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 if the score (%%) is below it")
    args = parser.parse_args()

    by_name = statuses()
    if not by_name:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 2
    counts = Counter(by_name.values())
    total = len(by_name)
    killed = counts["killed"] + counts["caught by type check"]
    score = 100.0 * killed / total
    print(
        " ".join(f"{status.replace(' ', '_')}={n}" for status, n in sorted(counts.items()))
        + f" total={total}"
    )
    covered = max(killed + counts["survived"], 1)
    print(
        f"mutation score: {score:.1f}% (killed/total); "
        f"{100.0 * killed / covered:.1f}% (killed/(killed+survived))"
    )

    survivors = sorted(n for n, s in by_name.items() if s == "survived")
    shown = {name: mutmut("show", name) for name in survivors}
    grouped: dict[str, list[str]] = defaultdict(list)
    for name in survivors:
        grouped[module_of(name)].append(name)
    for module, names in sorted(grouped.items()):
        print(f"\n== {module}: {len(names)} survived")
        for name in names:
            print(f"  {name.rpartition('.')[2]}: {one_line(shown[name])}")
    no_tests = Counter(module_of(n) for n, s in by_name.items() if s == "no tests")
    if no_tests:
        print("\nno tests reach: " + ", ".join(f"{m} {n}" for m, n in sorted(no_tests.items())))
    if args.diffs:
        Path(args.diffs).write_text("\n".join(shown[n] for n in survivors))
        print(f"\nthe diffs of the {len(survivors)} survivors: {args.diffs}")
    return 1 if score < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
