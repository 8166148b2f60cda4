"""What the benchmarks share: a child interpreter's figures (its last line of output, a JSON object) and a
table's header. Only the standard library."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def child_figures(argv: list[str], env: dict[str, str], timeout: float, failure: str) -> dict[str, Any]:
    """Run ``argv`` with exactly ``env``; return its last line of output (JSON). If it fails, exit with
    ``failure`` and the end of its stderr."""
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{failure}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def print_header(header: str) -> None:
    """A table's header line, underlined."""
    print(header)
    print("-" * len(header))
