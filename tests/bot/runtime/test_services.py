"""The Slack Web API client the services build: slack_sdk's debug lines are not written out unless asked for."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.config import load_settings
from bot.demo.fake_slack import FakeSlack
from bot.runtime.services import web_client


@pytest.fixture(autouse=True)
def web_api_logger_level_restored() -> Iterator[None]:
    logger = logging.getLogger("slack_sdk.web")
    level = logger.level
    yield
    logger.setLevel(level)


def debug_lines_built(client: WebClient, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many debug lines slack_sdk writes out for one chat.postMessage (whether or not a handler prints them)."""
    built: list[str] = []

    def record(message: Any, *args: Any, **kwargs: Any) -> None:
        built.append(str(message))

    monkeypatch.setattr(client.logger, "debug", record)
    client.chat_postMessage(channel="C0TEST0001", text="hello")
    return len(built)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def client_at(level: str, slack: FakeSlack, tmp_path: Path) -> WebClient:
    settings = load_settings({"SLACK_API_URL": slack.base_url, "LOG_LEVEL": level}, dotenv_path=tmp_path / "no.env")
    return web_client(settings)


def test_the_web_client_builds_no_debug_lines_at_the_info_level(
    slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_at("INFO", slack, tmp_path)
    assert client.logger.level == logging.INFO
    assert debug_lines_built(client, monkeypatch) == 0
    # What it spares: a client on slack_sdk's own logger writes out the request and the answer in full.
    assert debug_lines_built(WebClient(base_url=slack.base_url), monkeypatch) == 2


def test_the_web_client_still_logs_its_debug_lines_at_the_debug_level(
    slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert debug_lines_built(client_at("DEBUG", slack, tmp_path), monkeypatch) == 2
