"""The provider protocol and the vocabulary every adapter answers in.

Errors (only invalid input and programming errors raise; every provider answer becomes an Outcome):

    ProviderError
    ├── InvalidSubscriptionId   an id this provider cannot have (refused before any call)
    └── UnknownProvider         a provider name that is not enabled
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class ProviderError(Exception):
    """Base of the errors the providers package raises."""


class InvalidSubscriptionId(ProviderError):
    pass


class UnknownProvider(ProviderError):
    pass


class Outcome(StrEnum):
    """What happened at the provider, normalized across providers."""

    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already_cancelled"
    NOT_FOUND = "not_found"
    NOT_CANCELLABLE = "not_cancellable"
    AUTH_FAILED = "auth_failed"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    PROVIDER_ERROR = "provider_error"
    UNKNOWN = "unknown"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"
    # Kajabi: the purchase is deactivated; that alone does not prove the subscription was cancelled.
    DEACTIVATED = "deactivated"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CancelEffect:
    """What a cancel does at this provider: shown to approvers before they click."""

    immediate: bool
    refunds: bool
    reversible: bool

    def describe(self) -> str:
        parts = [
            "cancels immediately" if self.immediate else "cancels at the end of the billing period",
            "refunds the last payment" if self.refunds else "no refund",
            "can be undone" if self.reversible else "cannot be undone",
        ]
        return ", ".join(parts)


@dataclass(frozen=True)
class SubscriptionSnapshot:
    """The subscription as the provider showed it, in the fields a person needs to recognize it."""

    subscription_id: str
    status: SubscriptionStatus
    customer_name: str | None = None
    customer_email: str | None = None
    plan: str | None = None
    amount: str | None = None  # decimal as text: never a float for money
    currency: str | None = None
    dates: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SubscriptionSnapshot | None:
        data: dict[str, Any] = json.loads(text or "{}")
        if not data:
            return None
        data["status"] = SubscriptionStatus(data["status"])
        data["notes"] = tuple(data.get("notes", ()))
        return cls(**data)


@dataclass(frozen=True)
class LookupResult:
    """A lookup's answer: a snapshot, or the outcome that says why there is none."""

    snapshot: SubscriptionSnapshot | None
    problem: Outcome | None = None
    detail: str = ""
    http_status: int | None = None
    elapsed_ms: int = 0

    @property
    def found(self) -> bool:
        return self.snapshot is not None


@dataclass(frozen=True)
class CancelResult:
    outcome: Outcome
    detail: str
    http_status: int | None
    retry_safe: bool
    elapsed_ms: int

    def audit_detail(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "provider_detail": self.detail,
            "http_status": self.http_status,
            "retry_safe": self.retry_safe,
            "elapsed_ms": self.elapsed_ms,
        }


@dataclass(frozen=True)
class Candidate:
    """One subscription of a customer found by email, with what tells it apart from their others."""

    subscription_id: str
    status: SubscriptionStatus
    product: str | None = None
    amount: str | None = None
    currency: str | None = None
    started: str | None = None  # a date as the provider gives it


@dataclass(frozen=True)
class EmailSearch:
    """What a search by a customer's email found: how many customers have that email, and (when exactly one
    does) their subscriptions, active ones first. `problem` when the provider could not say."""

    customers: int = 0
    candidates: tuple[Candidate, ...] = ()
    more: bool = False  # the customer has more subscriptions than were listed
    problem: Outcome | None = None
    detail: str = ""

    def __repr__(self) -> str:  # the email is never part of it; the ids and counts are safe to show
        return f"EmailSearch(customers={self.customers}, candidates={len(self.candidates)}, problem={self.problem})"


@runtime_checkable
class SearchesByEmail(Protocol):
    """A provider that can find a customer's subscriptions from their email (Kajabi, the sandbox; not OneKey)."""

    def find_by_email(self, email: str) -> EmailSearch: ...


def active_first(candidates: list[Candidate]) -> tuple[Candidate, ...]:
    """Active subscriptions first, then the rest; the newest first within each."""
    newest = sorted(candidates, key=lambda c: c.started or "", reverse=True)
    return tuple(sorted(newest, key=lambda c: c.status is not SubscriptionStatus.ACTIVE))


@runtime_checkable
class SubscriptionProvider(Protocol):
    name: str
    label: str
    effect: CancelEffect
    id_hint: str

    def validate_id(self, raw: str) -> str:
        """The id in canonical form, or InvalidSubscriptionId saying what an id looks like here."""
        ...

    def lookup(self, subscription_id: str) -> LookupResult: ...

    def cancel(self, subscription_id: str) -> CancelResult: ...
