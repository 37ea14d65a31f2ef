"""What people may look at: a request with its history, and what the App Home lists for a user."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.context import Core
from storage import audit, chain, requests, roles
from storage.models import AuditCheck, AuditEvent, CancellationRequest, Role, RoleAssignment

HOME_LIMIT = 10


def request(core: Core, request_id: str) -> CancellationRequest | None:
    if not requests.looks_like_request_id(request_id):
        return None
    with core.database.read() as db:
        return requests.find(db, request_id)


def provider_of(core: Core, request_id: str) -> str | None:
    """The provider a request is for; read once per request, then remembered (it never changes)."""
    if not requests.looks_like_request_id(request_id):
        return None
    request_id = request_id.upper()
    known = core.known_providers.get(request_id)
    if known is not None:
        return known
    with core.database.read() as db:
        provider = requests.provider_of(db, request_id)
    if provider is not None:
        core.known_providers.remember(request_id, provider)
    return provider


def history(core: Core, request_id: str) -> list[AuditEvent]:
    with core.database.read() as db:
        return audit.events_for_request(db, request_id)


@dataclass(frozen=True)
class Home:
    """What the App Home shows one user: requests they may decide, their own, and for admins roles and the
    last chain check."""

    is_approver: bool
    decidable: list[CancellationRequest]
    waiting: int  # how many pending requests this user may decide, in all (`decidable` holds the first few)
    mine: list[CancellationRequest]
    roles: list[RoleAssignment] | None
    check: AuditCheck | None


def home(core: Core, user: str) -> Home:
    with core.database.read() as db:
        held = roles.roles_of(db, user)
        is_approver = any(role.includes(Role.APPROVER) for role in held)
        is_admin = Role.ADMIN in held
        decidable: list[CancellationRequest] = []
        waiting = 0
        if is_approver:
            others_only = None if core.policy.allow_self_approval else user
            decidable = requests.pending_for(db, limit=HOME_LIMIT, excluding_requester=others_only)
            waiting = requests.count_pending(db, excluding_requester=others_only)
        return Home(
            is_approver=is_approver,
            decidable=decidable,
            waiting=waiting,
            mine=requests.recent_by_requester(db, user, limit=HOME_LIMIT),
            roles=roles.list_all(db) if is_admin else None,
            check=chain.latest_check(db) if is_admin else None,
        )
