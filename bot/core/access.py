"""Who may do what: role checks (audited when they refuse) and the ack's memory of recent requesters."""

from __future__ import annotations

from bot.core.context import Core
from bot.core.results import Refusal, Refused, Result
from storage import audit, refusals, requests, roles
from storage.models import CancellationRequest, Role


def has_role(core: Core, user_id: str, needed: Role) -> bool:
    with core.database.read() as db:
        return roles.has_role(db, user_id, needed)


def may_ask(core: Core, user_id: str) -> bool:
    """Before the ack of a request: whether the user may ask. A recent yes is taken from memory; the request
    itself asks the database again before it does anything."""
    if core.requesters.vouches_for(user_id):
        return True
    allowed = has_role(core, user_id, Role.REQUESTER)
    if allowed:
        core.requesters.remember(user_id)
    return allowed


def forget_requester(core: Core, user_id: str) -> None:
    """This process revoked a role of theirs: their next ack asks the database."""
    core.requesters.forget(user_id)


def record_denied(core: Core, user_id: str, *, needed: Role, attempted: str, request_id: str | None = None) -> Result:
    """Someone without the role tried something: the audit log keeps it, and the answer is a refusal."""
    audit_refusal(core, request_id, user_id, "access.denied", {"needed": needed.value, "attempted": attempted})
    return Result(ok=False, refusal=Refusal.NO_ROLE, needed=needed)


def load_for(core: Core, request_id: str, *, user: str, needed: Role | None, attempted: str) -> CancellationRequest:
    """The request, read in one statement with the user's roles; Refused when it does not exist or the user
    lacks the role (which is audited)."""
    if not requests.looks_like_request_id(request_id):
        raise Refused(Result(ok=False, refusal=Refusal.NO_SUCH_REQUEST))
    with core.database.read() as db:
        request, held = requests.find_with_roles(db, request_id, user_id=user)
    allowed = needed is None or any(role.includes(needed) for role in held)
    if request is None:
        raise Refused(Result(ok=False, refusal=Refusal.NO_SUCH_REQUEST))
    if needed is not None and not allowed:
        record_denied(core, user, needed=needed, attempted=attempted, request_id=request.id)
        raise Refused(Result(ok=False, request=request, refusal=Refusal.NO_ROLE, needed=needed))
    return request


def audit_refusal(core: Core, request_id: str | None, actor: str, action: str, detail: dict[str, object]) -> None:
    """A refusal, audited at a bounded rate: the first of its kind for this user in a minute is an event at once;
    the repeats are counted and summed up in one event once the minute is over (upkeep.summarize_refusals)."""
    with core.database.write() as db:
        if refusals.tally(db, subject=actor, kind=action, window=refusals.minute(core.clock())) == 1:
            audit.append(db, actor=actor, action=action, request_id=request_id, detail=detail)


def audit_event(core: Core, request_id: str | None, actor: str, action: str, detail: dict[str, object]) -> None:
    """An audit event that changes no request (a refusal, a limit reached, an export)."""
    with core.database.alone() as db:
        audit.append(db, actor=actor, action=action, request_id=request_id, detail=detail)
