"""The listener thread pool: Bolt runs listeners here after ack(); shutdown waits for the ones in flight."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any


class ListenerPool(ThreadPoolExecutor):
    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="listener")
        self._in_flight: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._in_flight.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._in_flight.discard(future)

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
