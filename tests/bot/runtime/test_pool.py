"""The work pool: its threads run below the priority of the threads that answer Slack, and it drains on stop."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from bot.runtime.pool import ListenerPool


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are a Linux feature")
def test_work_threads_run_at_a_lower_priority_than_the_caller() -> None:
    before = own_niceness()
    pool = ListenerPool(2, name="test-work", niceness=5)
    try:
        assert pool.submit(own_niceness).result(timeout=10) == min(19, before + 5)
    finally:
        pool.drain(timeout=10)
    assert own_niceness() == before, "the caller's own priority is untouched"


def test_drain_waits_for_work_in_flight_and_reports_what_is_left() -> None:
    release = threading.Event()
    pool = ListenerPool(2, name="test-work")
    pool.submit(release.wait, 10)
    assert pool.busy == 1
    assert pool.drain(timeout=0.1) == 1
    release.set()
