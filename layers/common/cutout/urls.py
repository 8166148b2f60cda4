"""URL helpers shared by settings, the provider client, results and failure records."""

from __future__ import annotations

import re

_URL_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")


def is_loopback(host: str) -> bool:
    """True for the loopback addresses the local stack uses; never true for a host on a network."""
    return host in {"127.0.0.1", "::1", "localhost"}


def redact(text: str) -> str:
    """Drop the query of any URL (presigned signatures) from text that may reach a log or a record."""
    return _URL_QUERY.sub(r"\1?…", text)
