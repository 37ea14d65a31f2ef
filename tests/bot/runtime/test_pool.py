"""The work pool: its threads run below the priority of the threads that answer Slack, it takes no more than its
threads and queue hold, and it drains on stop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from bot.runtime.bulkheads import ProviderPools
from bot.runtime.pool import Full, ListenerPool


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def on_work_pool(call: Callable[[], int]) -> int:
    pool = ListenerPool(2, name="test-work", queue_limit=0, niceness=5)
    try:
        return int(pool.submit(call).result(timeout=10))
    finally:
        pool.drain(timeout=10)


def on_provider_pool(call: Callable[[], int]) -> int:
    """A lookup runs on its provider's pool while the work thread waits for it: work after an ack as well."""
    pools = ProviderPools(threads_each=2, niceness=5)
    try:
        return pools.submit("sandbox", call).result(timeout=10)
    finally:
        pools.shutdown()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are a Linux feature")
@pytest.mark.parametrize("run_on", [on_work_pool, on_provider_pool])
def test_work_threads_run_at_a_lower_priority_than_the_caller(run_on: Callable[[Callable[[], int]], int]) -> None:
    before = own_niceness()
    assert run_on(own_niceness) == min(19, before + 5)
    assert own_niceness() == before, "the caller's own priority is untouched"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are a Linux feature")
def test_a_work_thread_started_from_a_lowered_thread_is_lowered_from_the_process_not_twice() -> None:
    """A thread starts with its starter's priority: a pool whose first job comes from a work thread must not
    count down from that thread's priority."""
    before = own_niceness()
    inner = ListenerPool(1, name="test-inner", queue_limit=0, niceness=5)
    try:
        assert on_work_pool(lambda: int(inner.submit(own_niceness).result(timeout=10))) == min(19, before + 5)
    finally:
        inner.drain(timeout=10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are a Linux feature")
def test_in_a_process_started_nice_the_work_threads_are_lowered_from_there() -> None:
    script = (
        "import os, threading\n"
        "from bot.runtime.pool import ListenerPool\n"
        "os.nice(3)\n"
        "pool = ListenerPool(1, name='nice', queue_limit=0, niceness=5)\n"
        "print(pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result(10))\n"
        "pool.drain(timeout=10)\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert int(ran.stdout) == min(19, own_niceness() + 3 + 5)


def test_drain_waits_for_work_in_flight_and_reports_what_is_left() -> None:
    release = threading.Event()
    pool = ListenerPool(2, name="test-work", queue_limit=0)
    pool.submit(release.wait, 10)
    assert pool.busy == 1
    assert pool.drain(timeout=0.1) == 1
    release.set()


def test_work_beyond_the_threads_and_the_queue_is_refused_and_none_of_it_runs() -> None:
    release = threading.Event()
    ran: list[int] = []
    pool = ListenerPool(2, name="test-work", queue_limit=3)
    try:
        for n in range(5):  # two running, three waiting
            pool.submit(lambda n=n: (release.wait(10), ran.append(n)))
        with pytest.raises(Full) as refused:
            pool.submit(ran.append, 99)
        assert refused.value.waiting == 3 and pool.busy == 5
        release.set()
        pool.drain(timeout=10)
    finally:
        release.set()
    assert sorted(ran) == [0, 1, 2, 3, 4], "the refused work never ran"


def test_room_comes_back_as_work_ends() -> None:
    pool = ListenerPool(1, name="test-work", queue_limit=0)
    try:
        pool.submit(int).result(timeout=10)
        deadline = threading.Event()
        while pool.busy and not deadline.wait(0.01):
            pass
        assert pool.submit(int, "7").result(timeout=10) == 7
    finally:
        pool.drain(timeout=10)
