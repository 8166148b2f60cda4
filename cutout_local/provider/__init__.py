"""A Novita-compatible background-removal provider that runs on this machine (rembg, U²-Net-p).

Speaks the contract in docs/PROVIDER-CONTRACT.md: async submit + task-result polling, the synchronous twin,
expiring result URLs, Bearer auth, a per-key sliding-window rate limit, and fault injection for tests.
Run it with `python -m cutout_local.provider --help`, or embed it with `LocalProvider`.
"""

from .config import ProviderConfig
from .engine import Engine
from .faults import Faults
from .ratelimit import max_in_window
from .server import LocalProvider
from .stats import key_id

__all__ = ["Engine", "Faults", "LocalProvider", "ProviderConfig", "key_id", "max_in_window"]
