"""The long-running commands: Socket Mode, HTTP mode and the offline demo."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from bot.app import build_app
from bot.config import Settings, require
from bot.server import HttpServer, make_wsgi_app
from bot.services import build_services
from bot.sweeper import Sweeper

log = logging.getLogger("cancel-sub")


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_socket_mode(settings: Settings) -> int:
    require(settings, "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    _logging(settings)
    services = build_services(settings)
    app = build_app(services)
    sweeper = Sweeper(services).start()
    log.info("connecting over Socket Mode; providers %s", services.registry.describe_enabled())
    try:
        SocketModeHandler(app, settings.slack_app_token.get()).start()
    finally:
        sweeper.stop()
    return 0


def serve_http(settings: Settings, *, host: str, port: int) -> int:
    require(settings, "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    _logging(settings)
    services = build_services(settings)
    app = build_app(services)
    server = HttpServer(make_wsgi_app(app, services.database), host=host, port=port, threads=settings.listener_threads)
    sweeper = Sweeper(services).start()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: closing the listener", signum)
        server.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "serving on http://%s:%d/slack/events; providers %s", host, server.port, services.registry.describe_enabled()
    )
    print(f"listening on http://{host}:{server.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        sweeper.stop()
    return 0


def run_demo() -> int:
    from bot.demo import main

    return main()
