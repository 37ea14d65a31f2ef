"""Builds the Bolt App from Services and registers the listeners; nothing else."""

from __future__ import annotations

from slack_bolt import App

from bot import actions, commands, guards, home
from bot.services import Services


def build_app(services: Services) -> App:
    settings = services.settings
    app = App(
        client=services.client,
        signing_secret=settings.slack_signing_secret.get() or None,
        token_verification_enabled=False,
        # Listeners only validate and ack here; their slow part runs in services.pool (LISTENER_THREADS).
        listener_executor=services.acks,
        request_verification_enabled=bool(settings.slack_signing_secret),
    )
    app.middleware(guards.reject_malformed)
    commands.register(app, services)
    actions.register(app, services)
    home.register(app, services)
    return app
