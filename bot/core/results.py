"""What a use case answers: whether the caller won, the request as it is now, and why not when it did not."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ParamSpec

from storage.models import AuditEvent, CancellationRequest, Role

SYSTEM_ACTOR = "system"


class Refusal(StrEnum):
    """Why a use case did nothing; the Slack layer turns each into words."""

    NO_ROLE = "no_role"
    UNKNOWN_PROVIDER = "unknown_provider"
    INVALID_ID = "invalid_id"
    NOT_FOUND = "not_found"
    ALREADY_CANCELLED = "already_cancelled"
    NOT_CANCELLABLE = "not_cancellable"
    PROVIDER_PROBLEM = "provider_problem"
    NO_SUCH_REQUEST = "no_such_request"
    SELF_APPROVAL = "self_approval"
    NOT_REQUESTER = "not_requester"
    EXPIRED = "expired"
    ALREADY_DECIDED = "already_decided"
    NOT_RETRYABLE = "not_retryable"
    OVER_LIMIT = "over_limit"
    ALREADY_REQUESTED = "already_requested"  # another open request covers the subscription (`request`)


@dataclass(frozen=True)
class Result:
    """What a use case did. `request` is the state after it; `events` the audit events it wrote; `needed` the
    role that was missing (NO_ROLE); `limit` the velocity limit that was reached (OVER_LIMIT)."""

    ok: bool
    request: CancellationRequest | None = None
    refusal: Refusal | None = None
    detail: str = ""
    events: list[AuditEvent] = field(default_factory=list)
    duplicate: bool = False
    needed: Role | None = None
    limit: int = 0


class Refused(Exception):
    """A check said no: the use case stops there and answers with `result` (see `answers_refusals`)."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.refusal)
        self.result = result


P = ParamSpec("P")


def answers_refusals(use_case: Callable[P, Result]) -> Callable[P, Result]:
    """Let a use case's checks raise Refused; the caller gets the refusal as the use case's Result."""

    @functools.wraps(use_case)
    def run(*args: P.args, **kwargs: P.kwargs) -> Result:
        try:
            return use_case(*args, **kwargs)
        except Refused as refused:
            return refused.result

    return run
