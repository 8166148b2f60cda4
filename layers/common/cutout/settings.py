"""Settings, read from the environment once at cold start and validated (errors name the variable)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cutout.errors import ConfigurationError
from cutout.options import OutputOptions, OutputOptionsError
from cutout.urls import is_loopback

# The template's MaxBacklogDays allows up to this; the state machine's TimeoutSeconds is derived from it.
MAX_BACKLOG_DAYS = 30
# ...and from the largest MaxProviderOutageSeconds, which a poll and a download may each wait out.
MAX_PROVIDER_OUTAGE_SECONDS = 86400


@dataclass(frozen=True)
class Settings:
    input_bucket: str
    output_bucket: str
    input_prefix: str
    accepted_suffixes: tuple[str, ...]
    output_prefix: str
    failure_prefix: str
    staging_prefix: str  # in the output bucket: uploads converted to PNG for the provider (cutout.conversion)
    provider_base_url: str
    result_url_allowed_hosts: tuple[str, ...]
    api_key_secret_arn: str
    provider_timeout_seconds: int
    presign_expiry_seconds: int
    max_task_wait_seconds: int
    submissions_per_minute: int
    max_input_bytes: int
    max_input_megapixels: float
    max_result_bytes: int
    max_backlog_days: int
    max_submissions_per_day: int  # 0: no cap
    max_provider_outage_seconds: int
    provider_probe_max_seconds: int
    state_machine_arn: str | None = None
    rate_limit_table: str | None = None
    idempotency_table: str | None = None
    dead_letter_queue_url: str | None = None
    presign_role_arn: str | None = None  # the role whose credentials sign presigned URLs (cutout.aws)
    remove_outputs_on_delete: bool = False  # deleting an upload removes its outputs (cutout.removals)
    variant_prefix: str = "variants/"  # where variants other than the first go (cutout.keys.variant_key)
    # the stack's defaults and prefix rules; none: every upload gets today's cutout unless it asks
    output_options: OutputOptions = field(default_factory=lambda: OutputOptions.parse("", ""))
    event_bus_name: str = "default"  # where completion events go (cutout.events)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require: tuple[str, ...] = ()) -> Settings:
        """Build the settings from ``env`` (default ``os.environ``); ``require`` names optional fields
        (e.g. ``state_machine_arn``) that this function cannot work without."""
        env = os.environ if env is None else env
        settings = cls(
            input_bucket=_text(env, "INPUT_BUCKET"),
            output_bucket=_text(env, "OUTPUT_BUCKET"),
            input_prefix=env.get("INPUT_PREFIX", ""),
            accepted_suffixes=_suffixes(env, "ACCEPTED_SUFFIXES"),
            output_prefix=_text(env, "OUTPUT_PREFIX"),
            failure_prefix=_text(env, "FAILURE_PREFIX"),
            staging_prefix=_text(env, "STAGING_PREFIX"),
            provider_base_url=_base_url(env, "PROVIDER_BASE_URL"),
            result_url_allowed_hosts=_csv(env, "RESULT_URL_ALLOWED_HOSTS"),
            api_key_secret_arn=_text(env, "API_KEY_SECRET_ARN"),
            provider_timeout_seconds=_int(env, "PROVIDER_TIMEOUT_SECONDS", 1, 900),
            presign_expiry_seconds=_int(env, "PRESIGN_EXPIRY_SECONDS", 60, 3600),
            max_task_wait_seconds=_int(env, "MAX_TASK_WAIT_SECONDS", 1, 86400),
            submissions_per_minute=_int(env, "SUBMISSIONS_PER_MINUTE", 1, 1_000_000),
            max_input_bytes=_int(env, "MAX_INPUT_BYTES", 1, 5 * 1024**3),
            max_input_megapixels=float(_int(env, "MAX_INPUT_MEGAPIXELS", 1, 10_000)),
            max_result_bytes=_int(env, "MAX_RESULT_BYTES", 1, 5 * 1024**3),
            max_backlog_days=_int(env, "MAX_BACKLOG_DAYS", 1, MAX_BACKLOG_DAYS),
            max_submissions_per_day=_int(env, "MAX_SUBMISSIONS_PER_DAY", 0, 100_000_000),
            max_provider_outage_seconds=_int(
                env, "MAX_PROVIDER_OUTAGE_SECONDS", 1, MAX_PROVIDER_OUTAGE_SECONDS
            ),
            provider_probe_max_seconds=_int(env, "PROVIDER_PROBE_MAX_SECONDS", 1, 3600),
            state_machine_arn=env.get("STATE_MACHINE_ARN") or None,
            rate_limit_table=env.get("RATE_LIMIT_TABLE") or None,
            idempotency_table=env.get("IDEMPOTENCY_TABLE") or None,
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL") or None,
            presign_role_arn=env.get("PRESIGN_ROLE_ARN") or None,
            remove_outputs_on_delete=_flag(env, "REMOVE_OUTPUTS_ON_DELETE"),
            variant_prefix=env.get("VARIANT_PREFIX") or "variants/",
            output_options=_output_options(env),
            event_bus_name=_event_bus(env, "EVENT_BUS_NAME"),
        )
        prefixes = {
            "OUTPUT_PREFIX": settings.output_prefix,
            "FAILURE_PREFIX": settings.failure_prefix,
            "VARIANT_PREFIX": settings.variant_prefix,
            "STAGING_PREFIX": settings.staging_prefix,  # copies of ours, short-lived: never among outputs
        }
        for name, prefix in prefixes.items():
            for other, other_prefix in prefixes.items():
                if name != other and prefix.startswith(other_prefix):
                    raise ConfigurationError(
                        f"{name} ({prefix!r}) must not start with {other} ({other_prefix!r}): each kind of "
                        "output has a prefix of its own"
                    )
        for name in require:
            settings.needed(name)
        return settings

    @property
    def max_backlog_seconds(self) -> int:
        """How long an admitted upload may wait for its submission slot, in seconds."""
        return self.max_backlog_days * 86400

    def needed(self, name: str) -> str:
        """The value of an optional text field (e.g. ``rate_limit_table``) that the caller cannot work
        without; a ConfigurationError naming the variable when it is not set."""
        value = getattr(self, name)
        if not isinstance(value, str) or not value:
            raise ConfigurationError(f"{name.upper()} is required by this function but not set")
        return value


def _output_options(env: Mapping[str, str]) -> OutputOptions:
    try:
        return OutputOptions.parse(env.get("OUTPUT_OPTIONS", ""), env.get("OUTPUT_OPTION_RULES", ""))
    except OutputOptionsError as exc:
        raise ConfigurationError(f"OUTPUT_OPTIONS or OUTPUT_OPTION_RULES: {exc}") from None


def _text(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is required but not set")
    return value


def _int(env: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = _text(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    """An optional ``true``/``false`` (case-insensitive); absent or empty is false."""
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise ConfigurationError(f"{name} must be true or false, got {raw!r}")
    return raw == "true"


def _csv(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    items = tuple(part.strip().lower() for part in _text(env, name).split(",") if part.strip())
    if not items:
        raise ConfigurationError(f"{name} must list at least one value")
    return items


def _suffixes(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    suffixes = _csv(env, name)
    bad = [s for s in suffixes if not s.startswith(".")]
    if bad:
        raise ConfigurationError(f"{name} entries must start with '.', got {bad}")
    return suffixes


def _base_url(env: Mapping[str, str], name: str) -> str:
    url = _text(env, name).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        return url
    raise ConfigurationError(f"{name} must be an https URL (http only for a loopback address), got {url!r}")


# An event bus's name as EventBridge allows it:
# https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_CreateEventBus.html
_EVENT_BUS_NAME = re.compile(r"[/\.\-_A-Za-z0-9]{1,256}")


def _event_bus(env: Mapping[str, str], name: str) -> str:
    """The bus completion events go to; the account's ``default`` bus when the variable is absent."""
    bus = env.get(name, "default").strip()
    if not _EVENT_BUS_NAME.fullmatch(bus):
        raise ConfigurationError(f"{name} must be an event bus name ([/.-_A-Za-z0-9], 1-256), got {bus!r}")
    return bus
