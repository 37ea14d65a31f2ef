"""The long-running commands: Socket Mode, HTTP mode and the offline demo, with graceful shutdown.

On SIGTERM (or Ctrl-C) the bot stops taking new work, lets cancellations in flight finish for up to
SHUTDOWN_GRACE_SECONDS, and exits. A cancel still running after that is left `executing`, which the next
start's sweep settles by reading the subscription (RECOVER_AFTER_SECONDS).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from bot.config import Settings, require
from bot.core import upkeep
from bot.runtime.heap import freeze_startup_objects
from bot.runtime.periodic import Periodic
from bot.runtime.server import HttpServer, SlackWsgi
from bot.runtime.services import Services, build_services
from bot.runtime.sweeper import start_background, sweep_once
from bot.slack.app import build_app

log = logging.getLogger("cancel-sub")

# How long a stopping HTTP server lets the answers it is writing finish (acks take milliseconds).
ANSWER_DRAIN_SECONDS = 5.0


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _start(settings: Settings) -> tuple[Services, list[Periodic]]:
    services = build_services(settings)
    try:
        changed = sweep_once(services)  # before new work: settle what a previous run left behind
        if changed:
            log.info("start-up sweep settled %d requests", changed)
    except Exception:
        log.exception("start-up sweep failed; the periodic sweep will try again")
    return services, start_background(services)


def _finish(services: Services, background: list[Periodic]) -> None:
    grace = services.settings.shutdown_grace_seconds
    deadline = time.monotonic() + grace
    busy = services.pool.busy + services.provider_work.busy + services.slack_pool.busy + services.form_pool.busy
    if busy:
        log.info("waiting up to %.0f s for %d listeners in flight", grace, busy)
    # The work first: what it finishes hands its last Slack updates to the Slack pool.
    left = services.provider_work.drain(max(0.0, deadline - time.monotonic()))
    left += services.pool.drain(max(0.0, deadline - time.monotonic()))
    left += services.slack_pool.drain(max(0.0, deadline - time.monotonic()))
    left += services.form_pool.drain(max(0.0, deadline - time.monotonic()))
    services.provider_pools.shutdown()
    for task in background:
        task.stop()
    try:
        upkeep.leave(services.core)  # what is still in flight is for recovery elsewhere at once
    except Exception:
        log.exception("could not record this process's stop; others recover its cancels once it is silent")
    services.database.dispose()
    if left:
        log.warning("%d listeners still running after %.0f s; the next start settles their requests", left, grace)
        logging.shutdown()
        # Python would otherwise join the pool's threads at exit and wait for the slow provider after all.
        os._exit(0)
    log.info("stopped")


def _stop_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: taking no new work", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def run_socket_mode(settings: Settings) -> int:
    require(settings, "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    from bot.runtime.socket_mode import SwitchingSocketModeHandler

    _logging(settings)
    services, background = _start(settings)
    handler = SwitchingSocketModeHandler(
        build_app(services), settings.slack_app_token.get_secret_value(), concurrency=settings.listener_threads
    )
    freeze_startup_objects()
    stop = _stop_signals()
    log.info("connecting over Socket Mode; providers %s", services.registry.describe_enabled())
    handler.connect()
    stop.wait()
    handler.close()
    _finish(services, background)
    return 0


def serve_http(settings: Settings, *, host: str, port: int) -> int:
    """HTTP mode, in one process; several replicas share a database (see the README's Deployment)."""
    require(settings, "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    _logging(settings)
    services, background = _start(settings)
    server = HttpServer(
        SlackWsgi(
            build_app(services),
            services.database,
            signing_secret=settings.slack_signing_secret.get_secret_value(),
        ),
        host=host,
        port=port,
        threads=settings.listener_threads,
    )
    stop = _stop_signals()
    freeze_startup_objects()
    server.start()
    where = f"http://{host or '127.0.0.1'}:{server.port}"
    log.info("serving on %s/slack/events; providers %s", where, services.registry.describe_enabled())
    print(f"listening on {where}", file=sys.stderr, flush=True)
    stop.wait()
    server.close(drain_seconds=ANSWER_DRAIN_SECONDS)
    _finish(services, background)
    return 0


def run_demo() -> int:
    from bot.demo.story import main

    return main()
