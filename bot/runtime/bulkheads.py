"""Bulkheads per provider: a provider that hangs fills only its own pools, never another provider's or the rest.

Each provider has two: its work after an ack (a lookup and the request it makes, an approval and its cancel),
bounded in threads and queue, and the calls themselves, which run apart so the work can stop waiting at the
provider deadline (bot.core.calls)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from bot.runtime.pool import ListenerPool, lower_priority

T = TypeVar("T")


class ProviderPools:
    """Where provider calls run: one pool per provider (the Runner of bot.core.calls)."""

    def __init__(self, threads_each: int, *, niceness: int) -> None:
        self._threads_each, self._niceness = threads_each, niceness
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def submit(self, provider: str, call: Callable[[], T]) -> Future[T]:
        with self._lock:
            pool = self._pools.get(provider)
            if pool is None:
                # The calls are part of the work after an ack: they too run below the acks' CPU priority.
                pool = ThreadPoolExecutor(
                    max_workers=self._threads_each,
                    thread_name_prefix=f"provider-{provider}",
                    initializer=lower_priority,
                    initargs=(self._niceness,),
                )
                self._pools[provider] = pool
        return pool.submit(call)

    def shutdown(self) -> None:
        """Take no new calls; calls still running are left to finish (or to be cut short by the process ending)."""
        with self._lock:
            for pool in self._pools.values():
                pool.shutdown(wait=False, cancel_futures=True)


class ProviderWork:
    """The work after an ack that waits on a provider, on a bounded pool per provider."""

    def __init__(self, *, threads_each: int, queue_limit: int, niceness: int) -> None:
        self._threads_each, self._queue_limit, self._niceness = threads_each, queue_limit, niceness
        self._pools: dict[str, ListenerPool] = {}
        self._lock = threading.Lock()

    def pool(self, provider: str) -> ListenerPool:
        with self._lock:
            pool = self._pools.get(provider)
            if pool is None:
                pool = ListenerPool(
                    self._threads_each,
                    name=f"work-{provider}",
                    queue_limit=self._queue_limit,
                    niceness=self._niceness,
                )
                self._pools[provider] = pool
            return pool

    @property
    def busy(self) -> int:
        with self._lock:
            pools = list(self._pools.values())
        return sum(pool.busy for pool in pools)

    def drain(self, timeout: float) -> int:
        """Take no more work and wait up to `timeout`, in all; returns how many were still running."""
        deadline = time.monotonic() + timeout
        with self._lock:
            pools = list(self._pools.values())
        return sum(pool.drain(max(0.0, deadline - time.monotonic())) for pool in pools)
