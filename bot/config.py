"""Settings: read once from the environment and `.env` (the environment wins), typed, frozen, secrets hidden."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

T = TypeVar("T")

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_KAJABI_BASE_URL = "https://api.kajabi.com"
DEFAULT_ONEKEY_BASE_URL = "https://api-stg.onekeypayments.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """Every problem found in the settings, reported together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


class Secret:
    """A value that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, repr=False)
class Settings:
    slack_bot_token: Secret = field(default_factory=lambda: Secret(""))
    slack_signing_secret: Secret = field(default_factory=lambda: Secret(""))
    slack_app_token: Secret = field(default_factory=lambda: Secret(""))
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = "sqlite:///cancel-sub.db"
    kajabi_client_id: Secret = field(default_factory=lambda: Secret(""))
    kajabi_client_secret: Secret = field(default_factory=lambda: Secret(""))
    kajabi_base_url: str = DEFAULT_KAJABI_BASE_URL
    onekey_api_key: Secret = field(default_factory=lambda: Secret(""))
    onekey_api_signature: Secret = field(default_factory=lambda: Secret(""))
    onekey_base_url: str = DEFAULT_ONEKEY_BASE_URL
    onekey_auth_prefix: str = "OKP"
    onekey_sign_empty_json: bool = False
    sandbox_provider: bool = False
    request_ttl_minutes: int = 1440
    allow_self_approval: bool = False
    log_level: str = "INFO"
    listener_threads: int = 16
    slack_threads: int = 4
    provider_timeout_seconds: float = 10.0
    shutdown_grace_seconds: float = 30.0
    recover_after_seconds: float = 120.0
    sweep_interval_seconds: float = 60.0
    max_requests_per_user_per_day: int = 50
    max_approvals_per_user_per_hour: int = 30
    audit_check_minutes: int = 60

    @property
    def kajabi_enabled(self) -> bool:
        return bool(self.kajabi_client_id) and bool(self.kajabi_client_secret)

    @property
    def onekey_enabled(self) -> bool:
        return bool(self.onekey_api_key) and bool(self.onekey_api_signature)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "database_url":
                value = _without_password(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def _without_password(url: str) -> str:
    """The database URL as it may be shown: a password in it is masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unreadable database URL)"


def _text(raw: str) -> str:
    return raw.strip()


def _secret(raw: str) -> Secret:
    return Secret(raw.strip())


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be true or false")


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("must be a whole number") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("must be a number") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _url(raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


def _database_url(raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        raise ValueError("must start with sqlite:// or postgresql+psycopg://")
    if value.startswith("postgresql://"):
        # The installed driver is psycopg 3; make the short form use it.
        value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
    return value


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value


# Environment name -> (field name, parser). Order is the order of .env.example and the README table.
PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "SLACK_BOT_TOKEN": ("slack_bot_token", _secret),
    "SLACK_SIGNING_SECRET": ("slack_signing_secret", _secret),
    "SLACK_APP_TOKEN": ("slack_app_token", _secret),
    "SLACK_API_URL": ("slack_api_url", _url),
    "DATABASE_URL": ("database_url", _database_url),
    "KAJABI_CLIENT_ID": ("kajabi_client_id", _secret),
    "KAJABI_CLIENT_SECRET": ("kajabi_client_secret", _secret),
    "KAJABI_BASE_URL": ("kajabi_base_url", _url),
    "ONEKEY_API_KEY": ("onekey_api_key", _secret),
    "ONEKEY_API_SIGNATURE": ("onekey_api_signature", _secret),
    "ONEKEY_BASE_URL": ("onekey_base_url", _url),
    "ONEKEY_AUTH_PREFIX": ("onekey_auth_prefix", _text),
    "ONEKEY_SIGN_EMPTY_JSON": ("onekey_sign_empty_json", _bool),
    "SANDBOX_PROVIDER": ("sandbox_provider", _bool),
    "REQUEST_TTL_MINUTES": ("request_ttl_minutes", _positive_int),
    "ALLOW_SELF_APPROVAL": ("allow_self_approval", _bool),
    "LOG_LEVEL": ("log_level", _log_level),
    "LISTENER_THREADS": ("listener_threads", _positive_int),
    "SLACK_THREADS": ("slack_threads", _positive_int),
    "PROVIDER_TIMEOUT_SECONDS": ("provider_timeout_seconds", _positive_float),
    "SHUTDOWN_GRACE_SECONDS": ("shutdown_grace_seconds", _positive_float),
    "RECOVER_AFTER_SECONDS": ("recover_after_seconds", _positive_float),
    "SWEEP_INTERVAL_SECONDS": ("sweep_interval_seconds", _positive_float),
    "MAX_REQUESTS_PER_USER_PER_DAY": ("max_requests_per_user_per_day", _positive_int),
    "MAX_APPROVALS_PER_USER_PER_HOUR": ("max_approvals_per_user_per_hour", _positive_int),
    "AUDIT_CHECK_MINUTES": ("audit_check_minutes", _positive_int),
}


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv_path: Path | None = Path(".env")) -> Settings:
    """Parse every setting; raise one SettingsError listing all problems (values of secrets never shown)."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ if environ is None else environ)

    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, (attr, parse) in PARSERS.items():
        raw = merged.get(name)
        if raw is None or (raw.strip() == "" and parse is not _secret):
            continue
        try:
            values[attr] = parse(raw)
        except ValueError as exc:
            problems.append(f"{name} {exc}")
    _check_pairs(merged, problems)
    if problems:
        raise SettingsError(problems)
    settings = Settings(**values)
    if settings.recover_after_seconds < 2 * settings.sweep_interval_seconds:
        # Leases are renewed once per sweep; a shorter recovery delay would settle cancels still in flight.
        raise SettingsError(["RECOVER_AFTER_SECONDS must be at least twice SWEEP_INTERVAL_SECONDS"])
    return settings


def _check_pairs(merged: Mapping[str, str], problems: list[str]) -> None:
    """A provider with half its credentials is a mistake worth stopping for, not a silently disabled provider."""
    for first, second in (
        ("KAJABI_CLIENT_ID", "KAJABI_CLIENT_SECRET"),
        ("ONEKEY_API_KEY", "ONEKEY_API_SIGNATURE"),
    ):
        has_first = bool(merged.get(first, "").strip())
        has_second = bool(merged.get(second, "").strip())
        if has_first != has_second:
            missing = second if has_first else first
            present = first if has_first else second
            problems.append(f"{missing} is missing while {present} is set (set both, or neither)")


def require(settings: Settings, *names: str) -> None:
    """Fail with one message when a command needs settings that are empty."""
    missing = [n for n in names if not getattr(settings, PARSERS[n][0])]
    if missing:
        raise SettingsError([f"{n} is required for this command" for n in missing])
