"""Running a request's transition and telling the loser why it lost."""

from __future__ import annotations

from bot.core import access
from bot.core.context import Core
from bot.core.results import Refusal, Result
from storage import requests
from storage.models import CancellationRequest, RequestStatus
from storage.requests import Transition


def apply(core: Core, request_id: str, change: Transition) -> Result:
    """One conditional transition with its audit event; ok only for the one caller that won it."""
    with core.database.alone() as db:  # a transition is one statement where it can be (see requests.transition)
        outcome = requests.transition(db, request_id, change)
    events = [outcome.event] if outcome.event is not None else []
    return Result(ok=outcome.won, request=outcome.request, events=events)


def decide(core: Core, request_id: str, change: Transition) -> Result:
    """A transition whose loser is told why: someone decided first, it expired, or the actor's role was revoked
    before the update ran (the role is one of its conditions: see Transition.actor_role)."""
    result = apply(core, request_id, change)
    if result.ok:
        return result
    if change.actor_role is not None and not access.has_role(core, change.actor, change.actor_role):
        return access.record_denied(
            core, change.actor, needed=change.actor_role, attempted=change.action, request_id=request_id
        )
    return Result(ok=False, request=result.request, refusal=lost(result.request))


def lost(request: CancellationRequest | None) -> Refusal:
    if request is None:
        return Refusal.NO_SUCH_REQUEST
    return Refusal.EXPIRED if request.status == RequestStatus.EXPIRED else Refusal.ALREADY_DECIDED
