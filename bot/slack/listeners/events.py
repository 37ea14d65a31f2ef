"""Events API listeners: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.runtime.services import Services
from bot.slack import home


def on_app_home_opened(event: dict[str, Any], client: WebClient, services: Services) -> None:
    if event.get("tab", "home") == "home" and isinstance(event.get("user"), str):
        home.publish(services, client, event["user"])
