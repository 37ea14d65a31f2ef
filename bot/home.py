"""The App Home tab: drawn when opened, and again after a decision made from it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot import blocks
from bot.services import Services
from storage import audit, requests, roles
from storage.models import Role

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") == "home" and isinstance(event.get("user"), str):
            publish(services, client, event["user"])


def publish(services: Services, client: WebClient, user: str) -> None:
    with services.database.reader() as session:
        is_approver = roles.has_role(session, user, Role.APPROVER)
        is_admin = roles.has_role(session, user, Role.ADMIN)
        decidable = []
        if is_approver:
            decidable = [
                r
                for r in requests.pending_for(session, limit=blocks.HOME_LIMIT * 2)
                if r.requester != user or services.settings.allow_self_approval
            ]
        mine = requests.recent_by_requester(session, user, limit=blocks.HOME_LIMIT)
        roles_list = roles.list_all(session) if is_admin else None
        check = audit.latest_check(session) if is_admin else None
    view = blocks.home_view(decidable=decidable, mine=mine, roles_list=roles_list, check=check, is_approver=is_approver)
    try:
        client.views_publish(user_id=user, view=view)
    except (SlackClientError, OSError) as exc:
        log.warning("could not publish the App Home of %s: %s", user, type(exc).__name__)
