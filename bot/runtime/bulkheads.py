"""Provider calls on a bounded pool per provider: a provider that hangs fills only its own pool, never another's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class ProviderPools:
    def __init__(self, threads_each: int) -> None:
        self._threads_each = threads_each
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def submit(self, provider: str, call: Callable[[], T]) -> Future[T]:
        with self._lock:
            pool = self._pools.get(provider)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=self._threads_each, thread_name_prefix=f"provider-{provider}")
                self._pools[provider] = pool
        return pool.submit(call)

    def shutdown(self) -> None:
        """Take no new calls; calls still running are left to finish (or to be cut short by the process ending)."""
        with self._lock:
            for pool in self._pools.values():
                pool.shutdown(wait=False, cancel_futures=True)
