"""`cancel-sub serve --workers N`: N bot processes answer on one listening socket, so one host uses N cores.

Each worker is a whole bot (its own interpreter, thread pools, database connections and sweep); they share
nothing in memory, exactly like replicas, so the database still decides every race. The supervisor only holds the
socket, starts the workers, starts a new one when one dies, and passes SIGTERM on so each drains as it would alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType

from bot.config import Settings
from bot.heap import freeze_startup_objects
from storage import migrate
from storage.database import Database

log = logging.getLogger("cancel-sub")

# A worker that keeps dying right after its start is not restarted in a tight loop.
RESTART_PAUSE_SECONDS = 1.0
ORPHAN_CHECK_SECONDS = 0.5


def supervise(settings: Settings, *, host: str, port: int, workers: int) -> int:
    listener = socket.create_server((host, port), backlog=1024)
    # One schema upgrade before any worker starts: workers upgrading side by side would race on the same tables.
    database = Database(settings.database_url)
    try:
        migrate.upgrade(database.engine)
    finally:
        database.dispose()
    _preload()
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        log.info("signal %d: stopping %d workers", signum, len(children))
        stopping = True
        for pid in children:
            _signal(pid, signal.SIGTERM)

    children: dict[int, int] = {}  # pid -> worker number
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for number in range(workers):
        children[_start_worker(settings, listener, number)] = number
    bound_host, bound_port = listener.getsockname()[:2]
    log.info("%d workers serving on http://%s:%d/slack/events", workers, bound_host, bound_port)
    print(f"listening on http://{bound_host}:{bound_port}", file=sys.stderr, flush=True)
    failed = False
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        number = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            failed = failed or code != 0
            continue
        log.error("worker %d (pid %d) ended with %d; starting another", number, pid, code)
        time.sleep(RESTART_PAUSE_SECONDS)
        if not stopping:
            children[_start_worker(settings, listener, number)] = number
    listener.close()
    log.info("all workers stopped")
    return 1 if failed else 0


def _preload() -> None:
    """Import the whole bot once, before forking: workers share those pages until they write to them. Freezing
    what exists keeps the garbage collector from writing to (and so copying) every shared object; each worker
    freezes what it builds after the fork in the same way (see serve_http)."""
    import bot.entrypoints  # noqa: F401 - imported for its side effect: every module the workers run

    freeze_startup_objects()


def _start_worker(settings: Settings, listener: socket.socket, number: int) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    # The worker: default signal handling until its own server installs the graceful one.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), name="orphan-watch", daemon=True).start()
    code = 1
    try:
        from bot.entrypoints import serve_http

        code = serve_http(settings, host="", port=0, listener=listener, worker=number)
    except BaseException:
        log.exception("worker %d failed", number)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _stop_when_orphaned(supervisor: int) -> None:
    """A supervisor killed outright cannot pass SIGTERM on: its workers notice and stop gracefully themselves."""
    while os.getppid() == supervisor:
        time.sleep(ORPHAN_CHECK_SECONDS)
    log.warning("the supervisor (pid %d) is gone: stopping", supervisor)
    os.kill(os.getpid(), signal.SIGTERM)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.kill(pid, signum)
