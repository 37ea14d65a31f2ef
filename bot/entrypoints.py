"""The long-running commands: Socket Mode, HTTP mode and the offline demo, with graceful shutdown.

On SIGTERM (or Ctrl-C) the bot stops taking new work, lets cancellations in flight finish for up to
SHUTDOWN_GRACE_SECONDS, and exits. A cancel still running after that is left `executing`, which the next
start's sweep settles by reading the subscription (RECOVER_AFTER_SECONDS).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType

from bot.app import build_app
from bot.config import Settings, require
from bot.heap import freeze_startup_objects
from bot.server import HttpServer, make_wsgi_app
from bot.services import Services, build_services
from bot.sweeper import Sweeper, sweep_once

log = logging.getLogger("cancel-sub")


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _start(settings: Settings) -> tuple[Services, Sweeper]:
    services = build_services(settings)
    try:
        changed = sweep_once(services)  # before new work: settle what a previous run left behind
        if changed:
            log.info("start-up sweep settled %d requests", changed)
    except Exception:
        log.exception("start-up sweep failed; the periodic sweep will try again")
    return services, Sweeper(services).start()


def _finish(services: Services, sweeper: Sweeper) -> None:
    grace = services.settings.shutdown_grace_seconds
    deadline = time.monotonic() + grace
    busy = services.pool.busy + services.slack_pool.busy
    if busy:
        log.info("waiting up to %.0f s for %d listeners in flight", grace, busy)
    # The work first: what it finishes hands its last Slack updates to the Slack pool.
    left = services.pool.drain(max(0.0, deadline - time.monotonic()))
    left += services.slack_pool.drain(max(0.0, deadline - time.monotonic()))
    sweeper.stop()
    services.database.dispose()
    if left:
        log.warning("%d listeners still running after %.0f s; the next start settles their requests", left, grace)
        logging.shutdown()
        # Python would otherwise join the pool's threads at exit and wait for the slow provider after all.
        os._exit(0)
    log.info("stopped")


def _on_stop_signals(stop: threading.Event | None = None, *, then: object = None) -> threading.Event:
    event = stop or threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: taking no new work", signum)
        event.set()
        if callable(then):
            then()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return event


def run_socket_mode(settings: Settings) -> int:
    require(settings, "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    _logging(settings)
    services, sweeper = _start(settings)
    handler = SocketModeHandler(build_app(services), settings.slack_app_token.get())
    freeze_startup_objects()
    stop = _on_stop_signals()
    log.info("connecting over Socket Mode; providers %s", services.registry.describe_enabled())
    handler.connect()
    stop.wait()
    handler.close()
    _finish(services, sweeper)
    return 0


def serve_http(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    listener: socket.socket | None = None,
    worker: int | None = None,
) -> int:
    """HTTP mode. With `workers` > 1, that many bot processes share the port (bot/workers.py); each of them
    arrives here again with the shared `listener`."""
    require(settings, "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    _logging(settings)
    if workers > 1:
        from bot.workers import supervise

        return supervise(settings, host=host, port=port, workers=workers)
    services, sweeper = _start(settings)
    server = HttpServer(
        make_wsgi_app(build_app(services), services.database),
        host=host,
        port=port,
        threads=settings.listener_threads,
        listener=listener,
    )
    _on_stop_signals(then=server.close)
    freeze_startup_objects()
    where = f"http://{host or '127.0.0.1'}:{server.port}"
    if worker is None:
        log.info("serving on %s/slack/events; providers %s", where, services.registry.describe_enabled())
        print(f"listening on {where}", file=sys.stderr, flush=True)
    else:
        log.info("worker %d (pid %d) serving; providers %s", worker, os.getpid(), services.registry.describe_enabled())
    server.serve_forever()
    _finish(services, sweeper)
    return 0


def run_demo() -> int:
    from bot.demo import main

    return main()
