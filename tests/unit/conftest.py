import pytest

from cutout.settings import Settings
from tests.environment import FUNCTION_ENV


@pytest.fixture
def env() -> dict[str, str]:
    return dict(FUNCTION_ENV)


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)
