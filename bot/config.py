"""Settings: read once from the environment and `.env` (the environment wins), typed, range-checked, frozen,
secrets hidden. Every problem is reported at once (exit code 2 on the command line)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.database import with_installed_driver

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_KAJABI_BASE_URL = "https://api.kajabi.com"
DEFAULT_ONEKEY_BASE_URL = "https://api-stg.onekeypayments.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Whole numbers and seconds with the bounds a running bot can honour: no zero, no NaN or infinity, nothing absurd.
Count = Annotated[int, Field(ge=1, le=1_000_000)]
Threads = Annotated[int, Field(ge=1, le=256)]
Minutes = Annotated[int, Field(ge=1, le=525_600)]  # a year
Seconds = Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]  # a day


class SettingsError(Exception):
    """Every problem found in the settings, reported together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


class Settings(BaseSettings):
    """Each field is read from the environment variable of the same name in capitals (SLACK_BOT_TOKEN, ...)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_app_token: SecretStr = SecretStr("")
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = "sqlite:///cancel-sub.db"
    kajabi_client_id: SecretStr = SecretStr("")
    kajabi_client_secret: SecretStr = SecretStr("")
    kajabi_base_url: str = DEFAULT_KAJABI_BASE_URL
    kajabi_site_id: str = ""  # finding a customer's purchases by email searches this site
    onekey_api_key: SecretStr = SecretStr("")
    onekey_api_signature: SecretStr = SecretStr("")
    onekey_base_url: str = DEFAULT_ONEKEY_BASE_URL
    onekey_auth_prefix: str = "OKP"
    onekey_sign_empty_json: bool = False
    sandbox_provider: bool = False
    request_ttl_minutes: Minutes = 1440
    allow_self_approval: bool = False
    reject_reason_required: bool = False
    log_level: str = "INFO"
    listener_threads: Threads = 16
    slack_threads: Threads = 4
    queue_limit: Annotated[int, Field(ge=0, le=100_000)] = 64
    provider_timeout_seconds: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 10.0
    provider_deadline_seconds: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)] = 30.0
    shutdown_grace_seconds: Seconds = 30.0
    heartbeat_seconds: Annotated[float, Field(gt=0, le=60, allow_inf_nan=False)] = 5.0
    recover_after_seconds: Seconds = 20.0
    sweep_interval_seconds: Seconds = 60.0
    max_requests_per_user_per_day: Count = 50
    max_approvals_per_user_per_hour: Count = 30
    audit_check_minutes: Minutes = 60
    remind_after_minutes: Annotated[int, Field(ge=0, le=525_600)] = 60  # 0: no reminders
    escalate_after_minutes: Annotated[int, Field(ge=0, le=525_600)] = 240  # 0: no escalation
    approvers_group: str = ""  # a Slack user group id (S…) to mention in reminders instead of each approver
    audit_channel: str = ""  # a channel id: each checked tip of the audit chain is posted there

    @field_validator("approvers_group")
    @classmethod
    def _group_id(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"S[A-Z0-9]{2,}", value):
            raise ValueError("must be a user group id such as S0614TZR7 (not a @handle)")
        return value

    @field_validator("audit_channel")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[CG][A-Z0-9]{8,}", value):
            raise ValueError("must be a channel id such as C0123456789 (not a #name)")
        return value

    @field_validator("slack_api_url", "kajabi_base_url", "onekey_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        forms = ("sqlite://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://")
        if not value.startswith(forms):
            raise ValueError("must start with sqlite:// or postgresql://")
        return with_installed_driver(value)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value

    @field_validator("onekey_auth_prefix")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @property
    def kajabi_enabled(self) -> bool:
        return bool(self.kajabi_client_id.get_secret_value() and self.kajabi_client_secret.get_secret_value())

    @property
    def onekey_enabled(self) -> bool:
        return bool(self.onekey_api_key.get_secret_value() and self.onekey_api_signature.get_secret_value())

    def __repr_name__(self) -> str:
        return "Settings"

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            # The URL may carry a password.
            yield name, _without_password(value) if name == "database_url" else value


class _GivenEnvironment(Settings):
    """Settings read from a given mapping (passed as init values) and `.env`, not from the process environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, dotenv_settings


ENV_NAMES = tuple(name.upper() for name in Settings.model_fields)
# A provider with half its credentials is a mistake worth stopping for, not a silently disabled provider.
_PAIRS = (("KAJABI_CLIENT_ID", "KAJABI_CLIENT_SECRET"), ("ONEKEY_API_KEY", "ONEKEY_API_SIGNATURE"))


def _without_password(url: str) -> str:
    """The database URL as it may be shown: a password in it is masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unreadable database URL)"


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv_path: Path | None = Path(".env")) -> Settings:
    """Read every setting from the environment (or `environ`, when given, instead of it) and `.env`; raise one
    SettingsError listing all problems (values never shown)."""
    env_file = dotenv_path if dotenv_path is not None and dotenv_path.is_file() else None
    try:
        if environ is None:
            settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
        else:
            given: dict[str, Any] = {k.lower(): v for k, v in environ.items() if k in ENV_NAMES and v.strip()}
            settings = _GivenEnvironment(_env_file=env_file, **given)  # type: ignore[call-arg]
        problems = []
    except ValidationError as exc:
        settings, problems = None, [_problem(error) for error in exc.errors()]
    problems += _half_pairs(environ, env_file)
    if problems or settings is None:
        raise SettingsError(problems)
    if settings.provider_deadline_seconds < settings.provider_timeout_seconds:
        raise SettingsError(["PROVIDER_DEADLINE_SECONDS must be at least PROVIDER_TIMEOUT_SECONDS"])
    if settings.recover_after_seconds < 3 * settings.heartbeat_seconds:
        # A live process beats every HEARTBEAT_SECONDS; a few missed beats in a row, not one, mean it is dead.
        raise SettingsError(["RECOVER_AFTER_SECONDS must be at least three times HEARTBEAT_SECONDS"])
    return settings


def _problem(error: Any) -> str:
    name = str(error["loc"][0]).upper() if error["loc"] else "settings"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{name} {message[:1].lower()}{message[1:]}"


def _half_pairs(environ: Mapping[str, str] | None, env_file: Path | None) -> list[str]:
    """Credentials given by halves. Read from the raw values, so they are reported beside any other problem."""
    raw = {**(dotenv_values(env_file) if env_file else {}), **(os.environ if environ is None else environ)}
    problems = []
    for first, second in _PAIRS:
        has_first, has_second = bool((raw.get(first) or "").strip()), bool((raw.get(second) or "").strip())
        if has_first != has_second:
            missing, present = (second, first) if has_first else (first, second)
            problems.append(f"{missing} is missing while {present} is set (set both, or neither)")
    return problems


def require(settings: Settings, *names: str) -> None:
    """Fail with one message when a command needs settings that are empty."""
    missing = [n for n in names if not _filled(getattr(settings, n.lower()))]
    if missing:
        raise SettingsError([f"{n} is required for this command" for n in missing])


def _filled(value: Any) -> bool:
    return bool(value.get_secret_value() if isinstance(value, SecretStr) else value)
