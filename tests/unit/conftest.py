import os
from unittest import mock

import boto3
import pytest

from cutout import events
from cutout.settings import Settings
from tests.support.fakes import FakeEventBridge
from tests.support.template_env import function_env


@pytest.fixture(autouse=True)
def hermetic_aws(monkeypatch, socket_disabled):
    """Unit tests have no network (pytest-socket, in every run, not only under ``make unit``) and see no
    emulator and no real account: whatever ran before them in this process (the local stack points the
    environment at moto while it runs, and boto3's default session keeps the credentials it first found),
    boto3 starts afresh with example credentials and AWS's own endpoints."""
    for name in [
        n for n in os.environ if n.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"))
    ]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture
def env() -> dict[str, str]:
    """The functions' environment as the template's Globals set it (parameters at their defaults)."""
    return function_env()


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


@pytest.fixture
def added_metrics():
    """Every metric the code adds while the test runs (``add_metric`` calls), none published. (Imported
    here, not at the top: at collection, mutmut's forced-fail check would trip on the module's
    ``__getattr__``.)"""
    from cutout.observability import metrics

    with mock.patch.object(metrics, "add_metric") as add_metric:
        yield add_metric


@pytest.fixture(autouse=True)
def published(monkeypatch) -> FakeEventBridge:
    """The completion events published through the process's default publisher (``cutout.events``: what
    a caller that was given no publisher uses, such as admission's failure records), kept in memory."""
    eventbridge = FakeEventBridge()
    monkeypatch.setattr(events, "default_publisher", lambda bus: events.EventPublisher(bus, eventbridge))
    return eventbridge
