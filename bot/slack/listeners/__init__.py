"""Bolt listeners by surface: one named function per command, action id and event, registered here."""

from __future__ import annotations

from slack_bolt import App

from bot.runtime.services import Services
from bot.slack import blocks
from bot.slack.forms import FROM_MESSAGE, NEW_REQUEST, REQUEST_VIEW
from bot.slack.listeners import actions, commands, events, forms, picking
from bot.slack.picking import PAGE, PICK, PICK_VIEW
from bot.slack.text import COMMAND


def register(app: App, services: Services) -> None:
    """Each listener receives the services through Bolt's context (see bot.slack.app)."""
    app.command(COMMAND)(commands.on_command)
    app.action(blocks.APPROVE)(actions.on_approve)
    app.action(blocks.REJECT)(actions.on_reject)
    app.view(blocks.REJECT_VIEW)(actions.on_reject_submitted)
    app.action(blocks.WITHDRAW)(actions.on_withdraw)
    app.action(blocks.RETRY)(actions.on_retry)
    app.action(blocks.VERIFY)(actions.on_verify)
    app.action(blocks.GRANT_CONFIRM)(actions.on_grant_confirm)
    app.action(blocks.GRANT_DECLINE)(actions.on_grant_decline)
    app.event("app_home_opened")(events.on_app_home_opened)
    app.shortcut(NEW_REQUEST)(forms.on_new_request)
    app.action(NEW_REQUEST)(forms.on_new_request)  # the App Home's button
    app.shortcut(FROM_MESSAGE)(forms.on_message_shortcut)
    app.view(REQUEST_VIEW)(forms.on_request_submitted)
    app.action(PICK)(picking.on_pick)
    app.action(f"{PAGE}_prev")(picking.on_page)
    app.action(f"{PAGE}_next")(picking.on_page)
    app.view(PICK_VIEW)(picking.on_pick_submitted)
