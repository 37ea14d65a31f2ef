"""A bounded thread pool for the work after an ack (a bulkhead): it knows what is in flight, refuses work beyond
its threads and queue instead of queueing without end, and runs below the acks' CPU priority."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

log = logging.getLogger(__name__)


class Full(Exception):
    """The pool's threads are busy and its queue is full: the work was not taken (nothing of it ran)."""

    def __init__(self, pool: str, waiting: int) -> None:
        super().__init__(f"{pool} is full ({waiting} waiting)")
        self.pool, self.waiting = pool, waiting


class ListenerPool(ThreadPoolExecutor):
    def __init__(self, max_workers: int, *, name: str, queue_limit: int, niceness: int = 0) -> None:
        super().__init__(
            max_workers=max_workers, thread_name_prefix=name, initializer=lower_priority, initargs=(niceness,)
        )
        self.name = name
        self._capacity = max_workers + queue_limit
        self._thread_count = max_workers
        self._in_flight: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run `fn` when a thread is free; raises Full, having taken nothing, when threads and queue are taken."""
        with self._lock:
            if len(self._in_flight) >= self._capacity:
                raise Full(self.name, len(self._in_flight) - self._thread_count)
            future = super().submit(fn, *args, **kwargs)
            self._in_flight.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._in_flight.discard(future)
        if not future.cancelled() and future.exception() is not None:
            # Bolt logs its own listeners' errors; work handed over after an ack would otherwise vanish.
            log.error("work after an ack failed", exc_info=future.exception())

    @property
    def busy(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def drain(self, timeout: float) -> int:
        """Take no more work, wait up to `timeout` for what runs; returns how many were still running."""
        with self._lock:
            running = list(self._in_flight)
        _done, not_done = wait(running, timeout=timeout)
        self.shutdown(wait=False, cancel_futures=True)
        return len(not_done)


def lower_priority(niceness: int) -> None:
    """Run this thread `niceness` steps below the process's own priority. Linux schedules each thread on its own,
    so under load the threads answering Slack (which drops what is not answered within 3 s) get the CPU first."""
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return  # elsewhere a thread id is not a scheduling target
    # Counted from the main thread's priority (the process started nice stays as nice), not from this thread's:
    # a thread starts with the priority of the thread that started it, which may be a lowered one already.
    own = os.getpriority(os.PRIO_PROCESS, os.getpid())
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, own + niceness))
    except OSError as exc:
        log.debug("could not lower the priority of a work thread: %s", exc)
