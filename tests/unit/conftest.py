import pytest

from cutout.settings import Settings
from tests.support.template_env import function_env


@pytest.fixture
def env() -> dict[str, str]:
    """The functions' environment as the template's Globals set it (parameters at their defaults)."""
    return function_env()


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)
