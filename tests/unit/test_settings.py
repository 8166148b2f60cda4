import pytest

from cutout.errors import ConfigurationError
from cutout.settings import Settings


def test_valid_environment_gives_typed_settings(settings):
    assert settings.accepted_suffixes == (".jpg", ".jpeg", ".png")
    assert settings.max_input_megapixels == 16.0
    assert settings.state_machine_arn is None


@pytest.mark.parametrize("name", ["INPUT_BUCKET", "OUTPUT_BUCKET", "API_KEY_SECRET_ARN", "PROVIDER_BASE_URL"])
def test_missing_variable_is_named(env, name):
    del env[name]
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env(env)


def test_non_integer_is_refused_with_its_value(env):
    env["MAX_TASK_WAIT_SECONDS"] = "ten"
    with pytest.raises(ConfigurationError, match=r"MAX_TASK_WAIT_SECONDS.*'ten'"):
        Settings.from_env(env)


@pytest.mark.parametrize("url", ["http://api.novita.ai", "ftp://x", "http://10.0.0.5:8080"])
def test_provider_url_must_be_tls_unless_loopback(env, url):
    env["PROVIDER_BASE_URL"] = url
    with pytest.raises(ConfigurationError, match="https"):
        Settings.from_env(env)


def test_loopback_http_provider_is_allowed_for_the_local_stack(env):
    env["PROVIDER_BASE_URL"] = "http://127.0.0.1:8088/"
    assert Settings.from_env(env).provider_base_url == "http://127.0.0.1:8088"


def test_required_optional_field(env):
    with pytest.raises(ConfigurationError, match="STATE_MACHINE_ARN"):
        Settings.from_env(env, require=("state_machine_arn",))


def test_suffixes_need_a_dot(env):
    env["ACCEPTED_SUFFIXES"] = "jpg,.png"
    with pytest.raises(ConfigurationError, match="ACCEPTED_SUFFIXES"):
        Settings.from_env(env)
