"""The App Home tab: drawn when opened, and again after a decision made from it."""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.core import reads
from bot.runtime.services import Services
from bot.slack import blocks
from bot.slack.errors import SLACK_FAILURES, slack_error

log = logging.getLogger(__name__)


def publish(services: Services, client: WebClient, user: str) -> None:
    view = blocks.home_view(reads.home(services.core, user))
    try:
        client.views_publish(user_id=user, view=view)
    except SLACK_FAILURES as exc:
        log.warning("could not publish the App Home of %s: %s", user, slack_error(exc))
