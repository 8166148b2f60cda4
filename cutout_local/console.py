"""What the local stack's commands print for people: one line per outcome (``make demo``, ``make up``),
and one line for what ends them early (Ctrl-C, a port already taken) instead of a traceback."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutout_cli.watching import event_line, outcome_line, plural, read_events, subscribe

__all__ = [
    "event_line",
    "outcome_line",
    "plural",
    "read_events",
    "subscribe",
]  # the CLI's, for make up and demo

#: Exit status after Ctrl-C: 128 + SIGINT, as a shell reports a command ended by it.
INTERRUPTED = 130


class PortInUseError(Exception):
    """A port the local stack was asked to listen on is taken."""

    def __init__(self, port: int, option: str) -> None:
        super().__init__(port, option)
        self.port, self.option = port, option

    def __str__(self) -> str:
        return (
            f"port {self.port} is already in use (another `make up`?): stop what listens there, "
            f"or choose another port with {self.option}"
        )


def check_ports_free(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    """Raise :class:`PortInUseError` for the first port of ``ports`` (option → port; 0 = any free port)
    that cannot be bound on ``host``: checked before anything starts, so the error names the option."""
    for option, port in ports.items():
        if port == 0:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise PortInUseError(port, option) from error
                raise


def ending(error: BaseException) -> tuple[str, int] | None:
    """The one line (and the exit status) for what ended a command early, or None for an error that is
    not a person's to act on (a bug: its traceback is worth more)."""
    if isinstance(error, KeyboardInterrupt):
        line = "✗ Stopped by Ctrl-C: the local stack is down and kept nothing (the emulator lives in memory)."
        return line, INTERRUPTED
    if isinstance(error, PortInUseError):
        return f"✗ Cannot start the local stack: {error}.", 1
    return None


@dataclass
class FunctionLog:
    """The functions' log lines (JSON, as CloudWatch Logs gets them) appended to a file instead of the
    console: each :meth:`write` adds those of the invocations that ended since the last one."""

    path: Path
    written: int = 0

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    def write(self, invocations: list[Any]) -> None:
        new = invocations[self.written :]
        if new:
            with self.path.open("a") as f:
                f.writelines(invocation.logs for invocation in new)
            self.written += len(new)
