"""Every log line the functions write, captured from their logger (``cutout.observability.logger``) at the
level a test chooses, formatted as the Lambda log line would be."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _Keep(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def function_log_lines(level: int = logging.DEBUG) -> Iterator[list[str]]:
    """The lines logged while the block runs, with the functions' logger set to ``level`` (as the
    template's LogLevel parameter would set it)."""
    from cutout.observability import logger

    stdlib = logging.getLogger(logger.service)
    keep = _Keep(stdlib.handlers[0].formatter if stdlib.handlers else None)
    before = stdlib.level
    stdlib.addHandler(keep)
    stdlib.setLevel(level)
    try:
        yield keep.lines
    finally:
        stdlib.removeHandler(keep)
        stdlib.setLevel(before)
