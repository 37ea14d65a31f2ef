"""Builds the Bolt App from Services and registers the listeners; nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.runtime.services import Services
from bot.slack import guards, listeners


def build_app(services: Services) -> App:
    app = App(
        client=services.client,
        token_verification_enabled=False,
        # Listeners only validate and ack, then hand their slow part to services.pool (LISTENER_THREADS): run them
        # in the request's own thread and answer as soon as they return, instead of handing them to another
        # thread and polling for the ack every 10 ms (Bolt's default).
        process_before_response=True,
        # Over HTTP the server checks the signature on the raw bytes before anything is parsed (SlackWsgi), and a
        # Socket Mode envelope carries none: a second check here would only repeat the first.
        request_verification_enabled=False,
    )
    app.middleware(guards.reject_malformed)

    @app.middleware
    def provide_services(context: BoltContext, next: Callable[[], BoltResponse]) -> Any:
        context["services"] = services
        return next()

    listeners.register(app, services)
    return app
