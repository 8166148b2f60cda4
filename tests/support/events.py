"""The one loader of the sample events in events/: the tests use the same files as `sam local invoke`."""

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())
