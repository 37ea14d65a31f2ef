"""Events API listeners: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.runtime.services import Services
from bot.slack import home
from bot.slack.listeners.handover import hand_over


def on_app_home_opened(event: dict[str, Any], client: WebClient, services: Services) -> None:
    """Acked at once (the event needs no answer); the view is read and published on the Slack threads, so a slow
    or rate-limited `views.publish` holds up no ack."""
    if event.get("tab", "home") == "home" and isinstance(event.get("user"), str):
        hand_over(services.slack_pool, home.publish, services, client, event["user"])  # full: opened again later
