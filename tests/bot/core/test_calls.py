"""A provider call has a deadline for the whole call: a server that trickles its answer cannot hold a cancel; a slow
answer can be acted on meanwhile (the card shows the cancel in progress)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from bot.core import asking, calls, decisions
from bot.core.asking import Ask
from bot.core.context import Core, Policy
from bot.runtime.bulkheads import ProviderPools
from providers.base import CancelResult, Outcome
from providers.onekey import OneKeyProvider
from providers.registry import Registry, http_client
from providers.sandbox import SandboxProvider
from storage import audit, roles
from storage.database import Database
from storage.models import Role
from tests.support.providers import HeldSandbox, OneKeySubscription, Sleeps


class TricklingServer:
    """Answers GETs at once (through the fake OneKey), but trickles a DELETE's answer a byte a second, for ever."""

    def __init__(self, subscription: OneKeySubscription) -> None:
        self._subscription = subscription
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self._socket.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            request = connection.recv(65536)
            if request.startswith(b"GET"):
                body = b'{"id": 219, "status": "ACTIVE", "amount": 10.9}'
                head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                connection.sendall(head.encode() + body)
                return
            self._subscription.cancelled = True  # the cancel takes effect; its answer never quite arrives
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 1000:
                if self._stop.wait(1.0):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    def stop(self) -> None:
        self._stop.set()
        self._socket.close()


@pytest.fixture
def trickling() -> Iterator[TricklingServer]:
    server = TricklingServer(OneKeySubscription())
    yield server
    server.stop()


def test_a_trickled_answer_holds_a_cancel_no_longer_than_the_deadline(
    sqlite_database: Database, trickling: TricklingServer
) -> None:
    onekey = OneKeyProvider(
        client=http_client(2.0), api_key="k", api_signature="s", base_url=trickling.url, sleep=Sleeps()
    )
    pools = ProviderPools(threads_each=2, niceness=0)
    core = Core(
        database=sqlite_database,
        registry=Registry({"onekey": onekey}),
        policy=Policy(provider_deadline=3.0),
        calls=pools,
    )
    with sqlite_database.write() as db:
        roles.grant(db, user_id="U0ASKER01", role=Role.REQUESTER, actor="cli:test")
        roles.grant(db, user_id="U0APPROV1", role=Role.APPROVER, actor="cli:test")
    made = asking.request(core, Ask("U0ASKER01", "onekey", "219", "customer asked", "C0CHANNEL"))
    assert made.ok and made.request is not None
    approved = decisions.approve(core, made.request.id, approver="U0APPROV1")
    assert approved.ok and approved.request is not None
    started = time.monotonic()
    settled = decisions.cancel(core, approved.request).request
    took = time.monotonic() - started
    assert settled is not None and settled.status == "unknown", settled
    assert 2.5 < took < 5.0, took  # the deadline, not the trickle (which would go on for 20 minutes)
    assert "no answer within 3 s" in (settled.outcome_detail or "")
    trickling.stop()  # the connection ends: the call finally fails, and that late answer is kept
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite_database.read() as db:
            actions = [e.action for e in audit.events_for_request(db, made.request.id)]
        if "provider.answered_late" in actions:
            break
        time.sleep(0.1)
    assert "provider.answered_late" in actions, actions
    pools.shutdown()


@pytest.fixture
def own_threads() -> Iterator[ProviderPools]:
    pools = ProviderPools(threads_each=2, niceness=0)
    yield pools
    pools.shutdown()


def test_a_slow_cancel_is_acted_on_once_and_still_answered(own_threads: ProviderPools) -> None:
    held = HeldSandbox(cancels=True)
    in_flight: list[bool] = []
    slow = calls.WhenSlow(after=0.05, then=lambda: in_flight.append(not held.release.is_set()))
    threading.Timer(0.3, held.release.set).start()
    late: list[CancelResult] = []
    answer = calls.cancel(own_threads, held, "sb_1001", deadline=5, late=late.append, when_slow=slow)
    assert answer.outcome is Outcome.CANCELLED and late == []
    assert slow.done and in_flight == [True]  # once, while the call was in flight


def test_a_prompt_cancel_is_not_acted_on_as_slow(own_threads: ProviderPools) -> None:
    seen: list[bool] = []
    slow = calls.WhenSlow(after=2.0, then=lambda: seen.append(True))
    late: list[CancelResult] = []
    answer = calls.cancel(own_threads, SandboxProvider(), "sb_1001", deadline=5, late=late.append, when_slow=slow)
    assert answer.outcome is Outcome.CANCELLED and not slow.done and seen == [] and late == []


def test_the_deadline_counts_the_slow_part_and_a_failing_action_costs_no_answer(own_threads: ProviderPools) -> None:
    held = HeldSandbox(cancels=True)

    def fail() -> None:
        time.sleep(0.2)
        raise RuntimeError("the Slack threads are gone")

    started = time.monotonic()
    slow = calls.WhenSlow(after=0.1, then=fail)
    late: list[CancelResult] = []
    answer = calls.cancel(own_threads, held, "sb_1001", deadline=0.6, late=late.append, when_slow=slow)
    took = time.monotonic() - started
    assert answer.outcome is Outcome.UNKNOWN and slow.done
    assert 0.55 < took < 0.85, took  # the deadline from the start: not 0.6 s more after the slow part
    held.release.set()  # the call answers after all: its answer goes to `late`
    deadline = time.monotonic() + 5
    while not late and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [answer.outcome for answer in late] == [Outcome.CANCELLED]


class CountingSandbox(SandboxProvider):
    """The sandbox, taking `seconds` for each cancel and counting the cancels it ran."""

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__(slow_seconds=0)
        self.seconds, self.cancels = seconds, 0

    def cancel(self, subscription_id: str) -> CancelResult:
        self.cancels += 1
        time.sleep(self.seconds)
        return super().cancel(subscription_id)


def hold_the_only_thread(pools: ProviderPools) -> HeldSandbox:
    """A cancel that takes the provider's one thread until the test releases it."""
    held = HeldSandbox(cancels=True)
    late: list[CancelResult] = []  # released within its deadline: no late answer
    threading.Thread(
        target=calls.cancel, args=(pools, held, "sb_1001"), kwargs={"deadline": 10, "late": late.append}
    ).start()
    time.sleep(0.1)
    return held


def test_a_call_queued_behind_its_providers_other_calls_keeps_its_whole_deadline() -> None:
    pools = ProviderPools(threads_each=1, niceness=0)
    held = hold_the_only_thread(pools)
    threading.Timer(0.4, held.release.set).start()
    slow = CountingSandbox(seconds=0.3)
    started = time.monotonic()
    late: list[CancelResult] = []
    answer = calls.cancel(pools, slow, "sb_1002", deadline=0.5, late=late.append)
    # 0.4 s waiting for the thread, then 0.3 s of call: past 0.5 s in all, within 0.5 s of the call's start.
    assert answer.outcome is Outcome.CANCELLED and late == [], answer
    assert time.monotonic() - started > 0.6 and slow.cancels == 1
    pools.shutdown()


def test_a_call_that_gets_no_thread_within_its_deadline_is_withdrawn_unsent() -> None:
    pools = ProviderPools(threads_each=1, niceness=0)
    held = hold_the_only_thread(pools)
    waiting = CountingSandbox()
    late: list[CancelResult] = []
    answer = calls.cancel(pools, waiting, "sb_1002", deadline=0.3, late=late.append)
    assert (answer.outcome, answer.retry_safe) == (Outcome.PROVIDER_ERROR, True), answer
    assert answer.detail.startswith("not sent:"), answer.detail
    held.release.set()  # the thread is free again: the withdrawn call must still never run
    time.sleep(0.3)
    assert waiting.cancels == 0 and late == []
    pools.shutdown()


def test_a_lookup_that_gets_no_thread_within_its_deadline_says_it_was_not_sent() -> None:
    pools = ProviderPools(threads_each=1, niceness=0)
    held = hold_the_only_thread(pools)
    seen = calls.lookup(pools, SandboxProvider(), "sb_1002", deadline=0.3)
    assert seen.snapshot is None and seen.problem is Outcome.PROVIDER_ERROR
    assert seen.detail.startswith("not sent:"), seen.detail
    held.release.set()
    pools.shutdown()
