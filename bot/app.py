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
        # Listeners only validate and ack, then hand their slow part to services.pool (LISTENER_THREADS): run them
        # in the request's own thread and answer as soon as they return, instead of handing them to another
        # thread and polling for the ack every 10 ms (Bolt's default).
        process_before_response=True,
        request_verification_enabled=bool(settings.slack_signing_secret),
    )
    app.middleware(guards.reject_malformed)
    commands.register(app, services)
    actions.register(app, services)
    home.register(app, services)
    return app
