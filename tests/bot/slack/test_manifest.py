"""The manifest describes the app as the code builds it: command, interactivity, scopes for every API call."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.slack import forms
from bot.slack import text as messages

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

# Web API method (as slack_sdk names it) -> the bot scope it needs. A call not listed here fails the test.
SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "conversations_open": "im:write",
    "views_publish": None,  # App Home needs no scope beyond the event
    "views_open": None,  # a modal needs the interaction's trigger_id, no scope
    "chat_getPermalink": None,  # a message shortcut's ticket link
    "views_update": None,  # the form's second step: the customer's subscriptions
    "files_upload_v2": "files:write",
    "users_info": "users:read",
    "auth_test": None,
    "conversations_history": "channels:history",  # the audit channel's tips (groups:history when it is private)
}


def web_api_calls() -> set[str]:
    calls: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        if "demo" in path.parts:
            continue  # the fake Slack and the driver are not the app
        calls.update(re.findall(r"\bclient\.([a-z]+_[A-Za-z0-9_]+)\(", path.read_text()))
    return calls


def test_the_declared_command_is_the_one_the_app_registers() -> None:
    commands = MANIFEST["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [messages.COMMAND]
    source = (ROOT / "bot" / "slack" / "listeners" / "__init__.py").read_text()
    assert "app.command(COMMAND)(commands.on_command)" in source
    assert len(commands[0]["command"]) <= 32 and commands[0]["description"]


def test_mentions_are_escaped_and_the_home_tab_is_on() -> None:
    assert MANIFEST["features"]["slash_commands"][0]["should_escape"] is True
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in MANIFEST["settings"]["event_subscriptions"]["bot_events"]


def test_the_shortcuts_are_the_ones_the_app_registers() -> None:
    declared = {(s["type"], s["callback_id"]) for s in MANIFEST["features"]["shortcuts"]}
    assert declared == {("global", forms.NEW_REQUEST), ("message", forms.FROM_MESSAGE)}
    for shortcut in MANIFEST["features"]["shortcuts"]:
        assert len(shortcut["name"]) <= 24 and 0 < len(shortcut["description"]) <= 150
    source = (ROOT / "bot" / "slack" / "listeners" / "__init__.py").read_text()
    assert "app.shortcut(NEW_REQUEST)" in source and "app.shortcut(FROM_MESSAGE)" in source


def test_interactivity_and_socket_mode_are_on() -> None:
    settings = MANIFEST["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert "request_url" not in settings["interactivity"]  # Socket Mode needs no URLs
    assert "slash_commands" not in MANIFEST  # it must sit under features


def test_scopes_cover_every_web_api_method_the_code_calls() -> None:
    calls = web_api_calls()
    assert calls, "no Web API call found: the scan is broken"
    unknown = calls - set(SCOPES)
    assert not unknown, f"add these methods and their scopes to SCOPES: {unknown}"
    declared = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    needed = {SCOPES[c] for c in calls if SCOPES[c]} | {"commands"}
    assert needed <= declared, f"missing scopes: {needed - declared}"


def test_manifest_fields_respect_slack_limits() -> None:
    info = MANIFEST["display_information"]
    assert len(info["name"]) <= 35 and len(info["description"]) <= 140
    assert 174 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"[a-z0-9._-]+", MANIFEST["features"]["bot_user"]["display_name"])
