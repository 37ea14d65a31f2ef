"""Provider calls with a deadline for the whole call, retries included: a provider (or a proxy) that answers a byte
at a time cannot hold a request past it. Where the calls run (a bounded pool per provider) is the runtime's choice;
without one they run in the caller's thread, with no deadline. A call waiting for one of its provider's threads
loses none of its deadline meanwhile, and one that gets no thread within its deadline is withdrawn unsent."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from providers.base import CancelResult, EmailSearch, LookupResult, Outcome, SearchesByEmail, SubscriptionProvider

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runner(Protocol):
    """Runs a call to the named provider somewhere and hands back its future."""

    def submit(self, provider: str, call: Callable[[], T]) -> Future[T]: ...


class InThisThread:
    """Runs each call at once, in the caller's thread (tests, the command line)."""

    def submit(self, provider: str, call: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(call())
        except BaseException as exc:
            future.set_exception(exc)
        return future


class NotSent(Exception):
    """The call got none of its provider's threads within its deadline and was withdrawn: it never ran."""


class _Call(Generic[T]):
    """A provider call that notes when it starts running: its deadline counts from then."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self.started_at: float | None = None
        self.started = threading.Event()

    def __call__(self) -> T:
        self.started_at = time.monotonic()
        self.started.set()
        return self._call()


@dataclass
class WhenSlow:
    """What to do, once, when a call is still unanswered after `after` seconds; `done` says whether it was done.
    The caller then waits on, until the call's deadline."""

    after: float
    then: Callable[[], object]
    done: bool = False


def cancel(
    runner: Runner,
    provider: SubscriptionProvider,
    subscription_id: str,
    *,
    deadline: float,
    late: Callable[[CancelResult], object],
    when_slow: WhenSlow | None = None,
) -> CancelResult:
    """The provider's answer to a cancel, or `unknown` when none came within `deadline` (it may have acted);
    an answer that comes later goes to `late`. A cancel withdrawn unsent is a `provider_error`, safe to retry."""
    call = _Call(lambda: provider.cancel(subscription_id))
    future = runner.submit(provider.name, call)
    try:
        return _answer(future, call, deadline=deadline, when_slow=when_slow)
    except NotSent:
        return CancelResult(Outcome.PROVIDER_ERROR, _not_sent(provider, deadline), None, True, 0)
    except FutureTimeout:
        future.add_done_callback(lambda done: _late(done, late))
        detail = f"no answer within {deadline:.0f} s: {provider.label} may have acted; read it before anything else"
        return CancelResult(Outcome.UNKNOWN, detail, None, False, int(deadline * 1000))


def lookup(runner: Runner, provider: SubscriptionProvider, subscription_id: str, *, deadline: float) -> LookupResult:
    """The provider's read of a subscription, or a problem when none came within `deadline`."""
    call = _Call(lambda: provider.lookup(subscription_id))
    try:
        return _answer(runner.submit(provider.name, call), call, deadline=deadline)
    except NotSent:
        return LookupResult(None, Outcome.PROVIDER_ERROR, _not_sent(provider, deadline), None, 0)
    except FutureTimeout:
        detail = f"no answer within {deadline:.0f} s"
        return LookupResult(None, Outcome.PROVIDER_ERROR, detail, None, int(deadline * 1000))


def search(
    runner: Runner, provider: SubscriptionProvider, searcher: SearchesByEmail, email: str, *, deadline: float
) -> EmailSearch:
    """The provider's search by a customer's email, or a problem when no answer came within `deadline`."""
    call = _Call(lambda: searcher.find_by_email(email))
    try:
        return _answer(runner.submit(provider.name, call), call, deadline=deadline)
    except NotSent:
        return EmailSearch(problem=Outcome.PROVIDER_ERROR, detail=_not_sent(provider, deadline))
    except FutureTimeout:
        return EmailSearch(problem=Outcome.PROVIDER_ERROR, detail=f"no answer within {deadline:.0f} s")


def _not_sent(provider: SubscriptionProvider, deadline: float) -> str:
    return f"not sent: {provider.label}'s earlier calls still held every thread for it after {deadline:.0f} s"


def _answer(future: Future[T], call: _Call[T], *, deadline: float, when_slow: WhenSlow | None = None) -> T:
    submitted = time.monotonic()
    if when_slow is not None and when_slow.after < deadline:
        try:
            return future.result(timeout=when_slow.after)
        except FutureTimeout:
            when_slow.done = True
            try:
                when_slow.then()
            except Exception:  # showing progress must not cost the call its answer
                log.exception("could not act on a slow provider call")
    # Queued behind the provider's other calls, a call has not begun to use its deadline.
    if not call.started.wait(timeout=max(0.0, deadline - (time.monotonic() - submitted))) and future.cancel():
        raise NotSent
    started_at = call.started_at
    if started_at is None:  # the pool has just begun it, and it has yet to note the time
        started_at = time.monotonic()
    return future.result(timeout=max(0.0, deadline - (time.monotonic() - started_at)))


def _late(done: Future[CancelResult], late: Callable[[CancelResult], object]) -> None:
    try:
        answer = done.result()
    except Exception as exc:  # the adapter failed after all: that too is an answer worth keeping
        answer = CancelResult(Outcome.UNKNOWN, f"internal error: {type(exc).__name__}", None, False, 0)
    try:
        late(answer)
    except Exception:
        log.exception("could not record a late provider answer")
