"""Provider calls with a deadline for the whole call, retries included: a provider (or a proxy) that answers a byte
at a time cannot hold a request past it. Where the calls run (a bounded pool per provider) is the runtime's choice;
without one they run in the caller's thread, with no deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol, TypeVar

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
    an answer that comes later goes to `late`."""
    future = runner.submit(provider.name, lambda: provider.cancel(subscription_id))
    try:
        return _answer(future, deadline=deadline, when_slow=when_slow)
    except FutureTimeout:
        future.add_done_callback(lambda done: _late(done, late))
        detail = f"no answer within {deadline:.0f} s: {provider.label} may have acted; read it before anything else"
        return CancelResult(Outcome.UNKNOWN, detail, None, False, int(deadline * 1000))


def lookup(runner: Runner, provider: SubscriptionProvider, subscription_id: str, *, deadline: float) -> LookupResult:
    """The provider's read of a subscription, or a problem when none came within `deadline`."""
    future = runner.submit(provider.name, lambda: provider.lookup(subscription_id))
    try:
        return _answer(future, deadline=deadline)
    except FutureTimeout:
        detail = f"no answer within {deadline:.0f} s"
        return LookupResult(None, Outcome.PROVIDER_ERROR, detail, None, int(deadline * 1000))


def search(
    runner: Runner, provider: SubscriptionProvider, searcher: SearchesByEmail, email: str, *, deadline: float
) -> EmailSearch:
    """The provider's search by a customer's email, or a problem when no answer came within `deadline`."""
    future = runner.submit(provider.name, lambda: searcher.find_by_email(email))
    try:
        return _answer(future, deadline=deadline)
    except FutureTimeout:
        return EmailSearch(problem=Outcome.PROVIDER_ERROR, detail=f"no answer within {deadline:.0f} s")


def _answer(future: Future[T], *, deadline: float, when_slow: WhenSlow | None = None) -> T:
    if when_slow is None or when_slow.after >= deadline:
        return future.result(timeout=deadline)
    started = time.monotonic()
    try:
        return future.result(timeout=when_slow.after)
    except FutureTimeout:
        when_slow.done = True
        try:
            when_slow.then()
        except Exception:  # showing progress must not cost the call its answer
            log.exception("could not act on a slow provider call")
    return future.result(timeout=max(0.0, deadline - (time.monotonic() - started)))


def _late(done: Future[CancelResult], late: Callable[[CancelResult], object]) -> None:
    try:
        answer = done.result()
    except Exception as exc:  # the adapter failed after all: that too is an answer worth keeping
        answer = CancelResult(Outcome.UNKNOWN, f"internal error: {type(exc).__name__}", None, False, 0)
    try:
        late(answer)
    except Exception:
        log.exception("could not record a late provider answer")
