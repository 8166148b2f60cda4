"""Stacks of the canary app (tests/local_stack/aws/fixture) on the local AWS emulation."""

import sys

import pytest

from cutout_local.aws import LocalAws
from tests.local_stack.aws.helpers import TEMPLATE


@pytest.fixture
def aws():
    """A fresh canary stack with fast time."""
    with LocalAws(template=TEMPLATE) as stack:
        yield stack


@pytest.fixture(scope="module")
def deployed():
    """One canary stack shared by a module's read-only checks."""
    with LocalAws(template=TEMPLATE) as stack:
        yield stack


@pytest.fixture
def eager_thread_switches():
    """Threads switch far more often than every 5 ms: an interleaving of requests inside moto's backends,
    if one can happen, does (the emulator's dispatch lock is what prevents it)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(before)
