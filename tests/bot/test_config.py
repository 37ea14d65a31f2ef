"""Settings: defaults, .env vs environment, every problem in one message, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ENV_NAMES, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_without_any_setting(tmp_path: Path) -> None:
    settings = load_settings({}, dotenv_path=tmp_path / "absent.env")
    assert settings.database_url == "sqlite:///cancel-sub.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.kajabi_base_url == "https://api.kajabi.com"
    assert settings.onekey_base_url == "https://api-stg.onekeypayments.com"
    assert settings.request_ttl_minutes == 1440
    assert not settings.allow_self_approval and not settings.sandbox_provider
    assert not settings.kajabi_enabled and not settings.onekey_enabled


def test_the_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("REQUEST_TTL_MINUTES=60\nSANDBOX_PROVIDER=true\nLOG_LEVEL=debug\n")
    settings = load_settings({"REQUEST_TTL_MINUTES": "30"}, dotenv_path=dotenv)
    assert settings.request_ttl_minutes == 30
    assert settings.sandbox_provider is True
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@db/x", "postgresql+psycopg2://u@db/x"),
        ("postgresql+psycopg2://u@db/x", "postgresql+psycopg2://u@db/x"),
        # What earlier releases documented, when they installed psycopg 3.
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg2://u@db/x"),
        (" sqlite:///x.db ", "sqlite:///x.db"),
    ],
)
def test_every_postgresql_url_form_uses_the_installed_driver(tmp_path: Path, given: str, used: str) -> None:
    assert load_settings({"DATABASE_URL": given}, dotenv_path=tmp_path / "absent.env").database_url == used


def test_a_database_the_bot_cannot_use_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": "mysql://u@db/x"}, dotenv_path=tmp_path / "absent.env")
    assert "DATABASE_URL" in str(caught.value) and "postgresql://" in str(caught.value)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "REQUEST_TTL_MINUTES": "soon",
                "ALLOW_SELF_APPROVAL": "maybe",
                "DATABASE_URL": "mysql://x",
                "SLACK_API_URL": "slack.com",
                "LOG_LEVEL": "LOUD",
                "ONEKEY_API_KEY": "key-123",
            },
            dotenv_path=tmp_path / "absent.env",
        )
    message = str(caught.value)
    for name in (
        "REQUEST_TTL_MINUTES",
        "ALLOW_SELF_APPROVAL",
        "DATABASE_URL",
        "SLACK_API_URL",
        "LOG_LEVEL",
        "ONEKEY_API_SIGNATURE",
    ):
        assert name in message
    assert len(caught.value.problems) == 6
    assert "key-123" not in message


def test_secrets_never_show_in_repr_or_errors(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-very-secret",
        "SLACK_SIGNING_SECRET": "signing-very-secret",
        "KAJABI_CLIENT_ID": "kajabi-id-secret",
        "KAJABI_CLIENT_SECRET": "kajabi-very-secret",
        "ONEKEY_API_KEY": "onekey-key-secret",
        "ONEKEY_API_SIGNATURE": "onekey-very-secret",
        "DATABASE_URL": "postgresql://user:db-very-secret@db:5432/x",
    }
    settings = load_settings(env, dotenv_path=tmp_path / "absent.env")
    shown = repr(settings) + str(settings)
    for value in env.values():
        assert value not in shown
    assert "db-very-secret" not in shown and "***" in shown
    assert settings.kajabi_enabled and settings.onekey_enabled
    assert settings.slack_bot_token.get_secret_value() == "xoxb-very-secret"
    assert settings.database_url.startswith("postgresql+psycopg2://")


def test_env_example_documents_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    assert documented == set(ENV_NAMES)


def test_recovery_must_wait_for_at_least_three_heartbeats(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="at least three times HEARTBEAT_SECONDS"):
        load_settings({"RECOVER_AFTER_SECONDS": "10", "HEARTBEAT_SECONDS": "5"}, dotenv_path=tmp_path / "x")


def test_the_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in ENV_NAMES if f"| `{name}` |" not in readme]
    assert missing == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROVIDER_TIMEOUT_SECONDS", "nan"),
        ("PROVIDER_TIMEOUT_SECONDS", "inf"),
        ("PROVIDER_TIMEOUT_SECONDS", "1e9"),
        ("SWEEP_INTERVAL_SECONDS", "-1"),
        ("LISTENER_THREADS", "0"),
        ("LISTENER_THREADS", "100000"),
        ("REQUEST_TTL_MINUTES", "99999999999"),
        ("MAX_REQUESTS_PER_USER_PER_DAY", "1.5"),
    ],
)
def test_numbers_out_of_range_are_refused_by_name(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value}, dotenv_path=tmp_path / "absent.env")
    assert caught.value.problems and caught.value.problems[0].startswith(name)


def test_the_process_environment_is_read_when_no_mapping_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUEST_TTL_MINUTES", "45")
    monkeypatch.setenv("KAJABI_CLIENT_ID", "only-half")
    with pytest.raises(SettingsError, match="KAJABI_CLIENT_SECRET is missing"):
        load_settings(dotenv_path=tmp_path / "absent.env")
    monkeypatch.delenv("KAJABI_CLIENT_ID")
    assert load_settings(dotenv_path=tmp_path / "absent.env").request_ttl_minutes == 45
