import pytest

from cutout.errors import ConfigurationError
from cutout.settings import Settings


def test_valid_environment_gives_typed_settings(settings):
    assert settings.accepted_suffixes == (
        *(".jpg", ".jpeg", ".png"),
        *(".webp", ".heic", ".heif", ".avif", ".tif", ".tiff", ".bmp", ".gif"),
    )
    assert settings.staging_prefix == "staging/"
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


INTEGER_BOUNDS = [
    ("PROVIDER_TIMEOUT_SECONDS", 1, 900),
    ("PRESIGN_EXPIRY_SECONDS", 60, 3600),
    ("MAX_TASK_WAIT_SECONDS", 1, 86400),
    ("SUBMISSIONS_PER_MINUTE", 1, 1_000_000),
    ("MAX_INPUT_BYTES", 1, 5 * 1024**3),
    ("MAX_INPUT_MEGAPIXELS", 1, 10_000),
    ("MAX_RESULT_BYTES", 1, 5 * 1024**3),
    ("MAX_BACKLOG_DAYS", 1, 30),
    ("MAX_SUBMISSIONS_PER_DAY", 0, 100_000_000),
    ("MAX_PROVIDER_OUTAGE_SECONDS", 1, 86400),
    ("PROVIDER_PROBE_MAX_SECONDS", 1, 3600),
]


@pytest.mark.parametrize(("name", "low", "high"), INTEGER_BOUNDS)
def test_integer_settings_accept_both_ends_of_their_range(env, name, low, high):
    field = name.lower()
    for value in (low, high):
        env[name] = str(value)
        assert getattr(Settings.from_env(env), field) == value


@pytest.mark.parametrize(("name", "low", "high"), INTEGER_BOUNDS)
def test_integer_settings_outside_their_range_are_refused_naming_the_bounds(env, name, low, high):
    for value in (low - 1, high + 1):
        env[name] = str(value)
        with pytest.raises(ConfigurationError) as refused:
            Settings.from_env(env)
        assert str(refused.value) == f"{name} must be between {low} and {high}, got {value}"


def test_the_values_of_the_template_are_read_into_their_fields(settings):
    assert settings.input_bucket == "cutout-input-123456789012-3f2a9c1e"
    assert settings.output_bucket == "cutout-output-123456789012-3f2a9c1e"
    assert (settings.input_prefix, settings.output_prefix, settings.failure_prefix) == (
        "uploads/",
        "cutouts/",
        "failures/",
    )
    assert settings.provider_base_url == "https://api.novita.ai"
    assert settings.result_url_allowed_hosts == ("*.amazonaws.com", "*.novita.ai")
    assert settings.api_key_secret_arn.startswith("arn:aws:secretsmanager:")
    assert (settings.provider_timeout_seconds, settings.presign_expiry_seconds) == (10, 300)
    assert (settings.max_task_wait_seconds, settings.submissions_per_minute) == (900, 10)
    assert (settings.max_input_bytes, settings.max_result_bytes) == (30 * 1024**2, 100 * 1024**2)
    assert (settings.rate_limit_table, settings.idempotency_table) == (None, None)


def test_settings_are_read_from_the_process_environment_by_default(env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INPUT_BUCKET", "photos-from-the-environment")
    assert Settings.from_env().input_bucket == "photos-from-the-environment"


def test_without_an_input_prefix_the_whole_bucket_is_the_input(env):
    del env["INPUT_PREFIX"]
    assert Settings.from_env(env).input_prefix == ""


def test_optional_names_are_kept_when_set(env):
    env.update(
        STATE_MACHINE_ARN="arn:aws:states:us-east-1:123456789012:stateMachine:Cutout",
        RATE_LIMIT_TABLE="cutout-schedule",
        IDEMPOTENCY_TABLE="cutout-idempotency",
    )
    settings = Settings.from_env(env, require=("state_machine_arn", "rate_limit_table"))
    assert settings.state_machine_arn == "arn:aws:states:us-east-1:123456789012:stateMachine:Cutout"
    assert settings.rate_limit_table == "cutout-schedule"
    assert settings.idempotency_table == "cutout-idempotency"
    assert settings.needed("rate_limit_table") == "cutout-schedule"


@pytest.mark.parametrize("name", ["STATE_MACHINE_ARN", "RATE_LIMIT_TABLE", "IDEMPOTENCY_TABLE"])
def test_optional_names_set_empty_count_as_not_set(env, name):
    env[name] = ""
    settings = Settings.from_env(env)
    assert getattr(settings, name.lower()) is None
    with pytest.raises(ConfigurationError) as refused:
        settings.needed(name.lower())
    assert str(refused.value) == f"{name} is required by this function but not set"


def test_every_required_optional_field_is_checked(env):
    env["STATE_MACHINE_ARN"] = "arn:aws:states:us-east-1:123456789012:stateMachine:Cutout"
    with pytest.raises(ConfigurationError, match=r"^RATE_LIMIT_TABLE is required"):
        Settings.from_env(env, require=("state_machine_arn", "rate_limit_table"))


def test_a_field_that_is_not_text_is_never_needed_as_one(settings):
    with pytest.raises(ConfigurationError, match=r"^MAX_TASK_WAIT_SECONDS is required"):
        settings.needed("max_task_wait_seconds")


@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_required_variable_is_missing(env, value):
    env["OUTPUT_BUCKET"] = value
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == "OUTPUT_BUCKET is required but not set"


def test_surrounding_whitespace_is_ignored(env):
    env["INPUT_BUCKET"] = "  cutout-input \n"
    env["MAX_TASK_WAIT_SECONDS"] = " 600 "
    settings = Settings.from_env(env)
    assert (settings.input_bucket, settings.max_task_wait_seconds) == ("cutout-input", 600)


def test_a_non_integer_message_quotes_the_value(env):
    env["SUBMISSIONS_PER_MINUTE"] = "10.5"
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == "SUBMISSIONS_PER_MINUTE must be an integer, got '10.5'"


def test_lists_are_trimmed_lower_cased_and_skip_empty_entries(env):
    env["ACCEPTED_SUFFIXES"] = " .JPG , ,.Png,"
    env["RESULT_URL_ALLOWED_HOSTS"] = "Results.Example.COM,,  cdn.example.com "
    settings = Settings.from_env(env)
    assert settings.accepted_suffixes == (".jpg", ".png")
    assert settings.result_url_allowed_hosts == ("results.example.com", "cdn.example.com")


def test_a_list_of_only_separators_is_refused(env):
    env["RESULT_URL_ALLOWED_HOSTS"] = " , ,"
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == "RESULT_URL_ALLOWED_HOSTS must list at least one value"


def test_suffixes_without_a_dot_are_listed_in_the_message(env):
    env["ACCEPTED_SUFFIXES"] = "jpg,.png,jpeg"
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == "ACCEPTED_SUFFIXES entries must start with '.', got ['jpg', 'jpeg']"


def test_an_https_provider_url_loses_its_trailing_slashes(env):
    env["PROVIDER_BASE_URL"] = "https://api.novita.ai/v3//"
    assert Settings.from_env(env).provider_base_url == "https://api.novita.ai/v3"


@pytest.mark.parametrize("url", ["http://localhost:8088", "http://[::1]:8088"])
def test_other_loopback_names_are_allowed_over_http(env, url):
    env["PROVIDER_BASE_URL"] = url
    assert Settings.from_env(env).provider_base_url == url


def test_an_insecure_provider_url_is_quoted_in_the_message(env):
    env["PROVIDER_BASE_URL"] = "http://api.novita.ai/"
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == (
        "PROVIDER_BASE_URL must be an https URL (http only for a loopback address), got 'http://api.novita.ai'"
    )


def test_results_and_failures_need_different_prefixes(env):
    env["FAILURE_PREFIX"] = env["OUTPUT_PREFIX"]
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == (
        "OUTPUT_PREFIX ('cutouts/') must not start with FAILURE_PREFIX ('cutouts/'): each kind of output "
        "has a prefix of its own"
    )


@pytest.mark.parametrize(
    ("name", "value", "other"),
    [
        ("VARIANT_PREFIX", "cutouts/variants/", "OUTPUT_PREFIX"),
        ("OUTPUT_PREFIX", "failures/ok/", "FAILURE_PREFIX"),
    ],
)
def test_no_output_prefix_may_lie_within_another(env, name, value, other):
    env[name] = value
    with pytest.raises(ConfigurationError, match=f"^{name} .* must not start with {other} "):
        Settings.from_env(env)


def test_variants_have_a_prefix_of_their_own(env):
    assert Settings.from_env(env).variant_prefix == "variants/"
    env["VARIANT_PREFIX"] = "sizes/"
    assert Settings.from_env(env).variant_prefix == "sizes/"


def test_the_stacks_output_options_are_parsed_at_cold_start(env):
    env["OUTPUT_OPTIONS"] = "format=webp"
    env["OUTPUT_OPTION_RULES"] = "uploads/products/: background=#ffffff crop=subject"
    (variant,) = Settings.from_env(env).output_options.resolve("uploads/products/a.jpg", {})
    assert (variant.options.format, variant.options.crop) == ("webp", "subject")


def test_bad_stack_output_options_are_a_configuration_error(env):
    env["OUTPUT_OPTION_RULES"] = "uploads/: format=gif"
    with pytest.raises(
        ConfigurationError, match=r'^OUTPUT_OPTIONS or OUTPUT_OPTION_RULES: option "format" = "gif"'
    ):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "staging"),
    [("OUTPUT_PREFIX", "cutouts/"), ("OUTPUT_PREFIX", "cutouts/tmp/"), ("FAILURE_PREFIX", "f")],
)
def test_staged_copies_stay_out_of_the_outputs_users_read(env, name, staging):
    env["STAGING_PREFIX"] = staging
    with pytest.raises(ConfigurationError, match=f"^(STAGING_PREFIX .* {name}|{name} .* STAGING_PREFIX) "):
        Settings.from_env(env)


def test_only_trailing_slashes_are_trimmed_from_the_provider_url(env):
    env["PROVIDER_BASE_URL"] = "https://gateway.example.com/novita-X/"
    assert Settings.from_env(env).provider_base_url == "https://gateway.example.com/novita-X"


def test_the_backlog_bound_is_counted_in_whole_days(env):
    env["MAX_BACKLOG_DAYS"] = "3"
    assert Settings.from_env(env).max_backlog_seconds == 3 * 86400


def test_completion_events_go_to_the_bus_the_template_names_and_else_the_default_one(env):
    assert Settings.from_env({**env, "EVENT_BUS_NAME": "cutout-events"}).event_bus_name == "cutout-events"
    del env["EVENT_BUS_NAME"]
    assert Settings.from_env(env).event_bus_name == "default"


@pytest.mark.parametrize(
    "bus", ["", "two words", "arn:aws:events:us-east-1:123456789012:event-bus/x", "b" * 257]
)
def test_an_event_bus_that_is_no_bus_name_is_refused_naming_the_variable(env, bus):
    with pytest.raises(ConfigurationError, match="EVENT_BUS_NAME"):
        Settings.from_env({**env, "EVENT_BUS_NAME": bus})
