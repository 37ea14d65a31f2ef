"""A provider with its own in-memory state that behaves like the documented APIs, for demos and trial runs.

Ids (also listed in the README):
    sb_1001 .. sb_1005  active subscriptions
    sb_2001             already cancelled
    sb_3001             terminated (finished its lifecycle; cannot be cancelled)
    sb_4001             active, answers slowly (SLOW_SECONDS per call)
    sb_5001             active; the first cancel fails with a provider error (safe to retry), the next succeeds
    sb_6001             active; the cancel goes through but its answer is lost (outcome unknown; Verify settles it)
    sb_many_<digits>    active, one per number (sb_many_1, sb_many_2, ...): for trying many requests at once
    sb_1006             Ada Lovelace's second subscription (ada@example.com has two)
    sb_7001 .. sb_7012  twelve subscriptions of one customer (many@example.com), three of them cancelled
    anything else       not found
Every subscription has a customer email; `find_by_email` finds the subscriptions of the customer with that email.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from providers.base import (
    CancelEffect,
    CancelResult,
    Candidate,
    EmailSearch,
    InvalidSubscriptionId,
    LookupResult,
    Outcome,
    SubscriptionSnapshot,
    SubscriptionStatus,
    active_first,
)

ID_PATTERN = re.compile(r"^[a-z0-9_]{1,64}$")
MANY_PATTERN = re.compile(r"^sb_many_\d{1,12}$")
SLOW_SECONDS = 2.0


@dataclass
class _Subscription:
    snapshot: SubscriptionSnapshot
    behaviour: str = "normal"  # normal | slow | fail_once | lost_answer
    failures_left: int = 0


def _active(sub_id: str, name: str, email: str, plan: str, amount: str, currency: str) -> SubscriptionSnapshot:
    return SubscriptionSnapshot(
        subscription_id=sub_id,
        status=SubscriptionStatus.ACTIVE,
        customer_name=name,
        customer_email=email,
        plan=plan,
        amount=amount,
        currency=currency,
        dates={"start_date": "2026-01-15", "next_charge": "2026-12-15"},
    )


def catalogue() -> dict[str, _Subscription]:
    return {
        "sb_1001": _Subscription(_active("sb_1001", "Ada Lovelace", "ada@example.com", "Pro monthly", "49.00", "USD")),
        "sb_1002": _Subscription(
            _active("sb_1002", "Grace Hopper", "grace@example.com", "Team yearly", "480.00", "USD")
        ),
        "sb_1006": _Subscription(_active("sb_1006", "Ada Lovelace", "ada@example.com", "Team yearly", "480.00", "USD")),
        **{
            f"sb_70{n:02d}": _Subscription(
                replace(
                    _active(f"sb_70{n:02d}", "Mary Many", "many@example.com", f"Course {n}", f"{n}.00", "USD"),
                    status=SubscriptionStatus.CANCELLED if n % 4 == 0 else SubscriptionStatus.ACTIVE,
                    dates={"start_date": f"2026-{n:02d}-01"},
                )
            )
            for n in range(1, 13)
        },
        "sb_1003": _Subscription(_active("sb_1003", "Alan Turing", "alan@example.com", "Basic monthly", "9.00", "EUR")),
        "sb_1004": _Subscription(
            _active("sb_1004", "Katherine Johnson", "kj@example.com", "Pro monthly", "49.00", "USD")
        ),
        "sb_1005": _Subscription(
            _active("sb_1005", "Edsger Dijkstra", "ewd@example.com", "Basic yearly", "90.00", "EUR")
        ),
        "sb_2001": _Subscription(
            replace(
                _active("sb_2001", "Barbara Liskov", "bl@example.com", "Pro monthly", "49.00", "USD"),
                status=SubscriptionStatus.CANCELLED,
            )
        ),
        "sb_3001": _Subscription(
            replace(
                _active("sb_3001", "Donald Knuth", "dk@example.com", "Trial weekly", "0.00", "USD"),
                status=SubscriptionStatus.TERMINATED,
            )
        ),
        "sb_4001": _Subscription(
            _active("sb_4001", "John Backus", "jb@example.com", "Pro monthly", "49.00", "USD"),
            behaviour="slow",
        ),
        "sb_5001": _Subscription(
            _active("sb_5001", "Frances Allen", "fa@example.com", "Team monthly", "120.00", "USD"),
            behaviour="fail_once",
            failures_left=1,
        ),
        "sb_6001": _Subscription(
            _active("sb_6001", "Tony Hoare", "th@example.com", "Pro yearly", "490.00", "GBP"),
            behaviour="lost_answer",
        ),
    }


class SandboxProvider:
    name = "sandbox"
    label = "Sandbox (test data)"
    effect = CancelEffect(immediate=True, refunds=False, reversible=False)
    id_hint = "a sandbox id such as sb_1001 (lower-case letters, digits and _)"

    def __init__(self, *, slow_seconds: float = SLOW_SECONDS, sleep: Callable[[float], None] = time.sleep) -> None:
        self._subscriptions = catalogue()
        self._lock = threading.Lock()
        self._slow_seconds = slow_seconds
        self._sleep = sleep
        self.cancel_calls: list[str] = []

    def __repr__(self) -> str:
        return "SandboxProvider()"

    def validate_id(self, raw: str) -> str:
        value = raw.strip()
        if not ID_PATTERN.fullmatch(value):
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise InvalidSubscriptionId(f"{shown!r} is not {self.id_hint}")
        return value

    def _find(self, sub_id: str) -> _Subscription | None:
        with self._lock:
            subscription = self._subscriptions.get(sub_id)
            if subscription is None and MANY_PATTERN.fullmatch(sub_id):
                number = sub_id.rsplit("_", 1)[1]
                snapshot = _active(
                    sub_id, f"Customer {number}", f"customer{number}@example.com", "Basic", "9.00", "USD"
                )
                subscription = self._subscriptions[sub_id] = _Subscription(snapshot)
            return subscription

    def lookup(self, subscription_id: str) -> LookupResult:
        sub_id = self.validate_id(subscription_id)
        started = time.monotonic()
        subscription = self._find(sub_id)
        if subscription is None:
            return LookupResult(None, Outcome.NOT_FOUND, "Subscription does not exist.", 404, 0)
        if subscription.behaviour == "slow":
            self._sleep(self._slow_seconds)
        with self._lock:
            snapshot = subscription.snapshot
        return LookupResult(snapshot, None, "", 200, int((time.monotonic() - started) * 1000))

    def find_by_email(self, email: str) -> EmailSearch:
        wanted = email.strip().casefold()
        with self._lock:
            found = [
                Candidate(
                    subscription_id=sub.snapshot.subscription_id,
                    status=sub.snapshot.status,
                    product=sub.snapshot.plan,
                    amount=sub.snapshot.amount,
                    currency=sub.snapshot.currency,
                    started=sub.snapshot.dates.get("start_date"),
                )
                for sub in self._subscriptions.values()
                if (sub.snapshot.customer_email or "").casefold() == wanted
            ]
        return EmailSearch(customers=1 if found else 0, candidates=active_first(found))

    def cancel(self, subscription_id: str) -> CancelResult:
        sub_id = self.validate_id(subscription_id)
        started = time.monotonic()
        with self._lock:
            self.cancel_calls.append(sub_id)
        subscription = self._find(sub_id)
        if subscription is None:
            return CancelResult(Outcome.NOT_FOUND, "Subscription does not exist.", 404, False, 0)
        if subscription.behaviour == "slow":
            self._sleep(self._slow_seconds)
        with self._lock:
            status = subscription.snapshot.status
            if status is SubscriptionStatus.CANCELLED:
                return self._result(Outcome.ALREADY_CANCELLED, "Subscription was already cancelled.", 421, started)
            if status is SubscriptionStatus.TERMINATED:
                return self._result(
                    Outcome.NOT_CANCELLABLE,
                    "Subscription is terminated and cannot be cancelled.",
                    426,
                    started,
                )
            if subscription.behaviour == "fail_once" and subscription.failures_left > 0:
                subscription.failures_left -= 1
                return self._result(
                    Outcome.PROVIDER_ERROR,
                    "Service unavailable (simulated 503).",
                    503,
                    started,
                    retry_safe=True,
                )
            subscription.snapshot = replace(subscription.snapshot, status=SubscriptionStatus.CANCELLED)
            if subscription.behaviour == "lost_answer":
                return self._result(
                    Outcome.UNKNOWN, "no answer in time after the request was sent (simulated)", None, started
                )
        return self._result(Outcome.CANCELLED, "subscription cancelled", 200, started)

    @staticmethod
    def _result(
        outcome: Outcome, detail: str, status: int | None, started: float, *, retry_safe: bool = False
    ) -> CancelResult:
        return CancelResult(outcome, detail, status, retry_safe, int((time.monotonic() - started) * 1000))
