"""Table models and the vocabularies (roles, request statuses) stored in them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import configure_mappers
from sqlmodel import Field, SQLModel


class Role(StrEnum):
    REQUESTER = "requester"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def includes(self, other: Role) -> bool:
        """Roles are ordered: an admin may do what an approver may, who may do what a requester may."""
        return self.rank >= other.rank


_ROLE_RANK = {Role.REQUESTER: 1, Role.APPROVER: 2, Role.ADMIN: 3}


class RequestStatus(StrEnum):
    PENDING = "pending"
    EXECUTING = "executing"
    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already_cancelled"
    FAILED = "failed"
    UNKNOWN = "unknown"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class RoleAssignment(SQLModel, table=True):
    __tablename__ = "role_assignments"

    user_id: str = Field(primary_key=True, max_length=32)
    role: str = Field(primary_key=True, max_length=16)
    granted_by: str = Field(max_length=64)
    granted_at: datetime


class CancellationRequest(SQLModel, table=True):
    __tablename__ = "cancellation_requests"

    id: str = Field(primary_key=True, max_length=32)
    provider: str = Field(max_length=32)
    subscription_id: str = Field(max_length=64, index=True)
    reason: str = Field(max_length=500)
    requester: str = Field(max_length=32, index=True)
    channel: str = Field(max_length=32)
    card_ts: str | None = Field(default=None, max_length=32)
    status: str = Field(max_length=20, index=True)
    outcome: str | None = Field(default=None, max_length=32)
    outcome_detail: str | None = None
    decision_reason: str | None = None  # why it was rejected, as the approver typed it
    ticket_link: str | None = None  # the support ticket (or message) the request came from
    reminded_at: datetime | None = None  # the approvers were reminded that it waits (once)
    escalated_at: datetime | None = None  # the admins were told that it still waits (once)
    retry_safe: bool = False
    snapshot: str = "{}"
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = Field(default=None, max_length=32)
    finished_at: datetime | None = None
    # Slack's trigger id of the command that made this request: a retried delivery finds it again.
    command_key: str | None = Field(default=None, max_length=64, unique=True)
    attempts: int = 0
    # When the current cancel attempt began: a request `executing` for much longer was left by a crash.
    started_at: datetime | None = None
    # The card could not be updated; the sweep shows the current state when Slack answers again.
    card_dirty: bool = False
    # The last audit event already shown in the card's thread.
    thread_sequence: int = 0
    # Set while one worker posts to the thread (a lease: a stale one is taken over).
    thread_lock_at: datetime | None = None
    # The last status the requester was told about by DM.
    notified_status: str = Field(default="pending", max_length=20)
    # Slack catch-up: consecutive failures, when to try again, and the permanent Slack error that ended it.
    slack_failures: int = 0
    slack_retry_at: datetime | None = None
    slack_gave_up: str | None = Field(default=None, max_length=64)
    # The process waiting on this request's cancel (a row of bot_processes while it lives).
    lease_owner: str | None = Field(default=None, max_length=64)
    # The process posting to the thread under the lease above (taken over at once when that process is dead).
    thread_lock_owner: str | None = Field(default=None, max_length=64)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    sequence: int = Field(primary_key=True)
    time: datetime
    request_id: str | None = Field(default=None, max_length=32, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    detail: str  # canonical JSON, stored as text so the hashed bytes are exactly what is read back
    previous_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain's tip: one row, locked by every append so appends are serialized across processes."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    sequence: int
    hash: str = Field(max_length=64)


class GrantStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    EXPIRED = "expired"


class RoleGrant(SQLModel, table=True):
    """A grant of approver or admin, or the removal of another admin, waiting for a second admin (two-person rule
    for roles)."""

    __tablename__ = "role_grants"

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(max_length=32)
    role: str = Field(max_length=16)
    requested_by: str = Field(max_length=32)
    channel: str = Field(max_length=32)
    card_ts: str | None = Field(default=None, max_length=32)
    status: str = Field(max_length=16, index=True)
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = Field(default=None, max_length=32)
    decided_at: datetime | None = None
    change: str = Field(default="grant", max_length=8)  # grant | revoke


class Notice(SQLModel, table=True):
    """One row per DM sent about a subject, kind and time window: the key makes "at most one" hold everywhere."""

    __tablename__ = "notices"

    subject: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=32)
    window: str = Field(primary_key=True, max_length=16)
    sent_at: datetime


class RefusalTally(SQLModel, table=True):
    """How many times a user was refused one kind of thing in one minute (see storage.refusals)."""

    __tablename__ = "refusal_tallies"

    subject: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=64)
    window: str = Field(primary_key=True, max_length=16)
    count: int


class BotProcess(SQLModel, table=True):
    """A running bot process: its heartbeat (`seen_at`) says it is alive, so its in-flight cancels are its own."""

    __tablename__ = "bot_processes"

    id: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime
    seen_at: datetime


class AuditCheck(SQLModel, table=True):
    """The result of a walk of the chain, kept so the App Home can show it without walking, and its tip when whole:
    later walks require that tip to still be in the chain and start from it."""

    __tablename__ = "audit_checks"

    id: int | None = Field(default=None, primary_key=True)
    checked_at: datetime
    ok: bool
    events: int
    description: str
    tip_sequence: int | None = None
    tip_hash: str | None = Field(default=None, max_length=64)


# Rows are loaded with pydantic's model_construct (storage.database.load), which skips the constructor that would
# otherwise set SQLAlchemy's mappers up on first use: set them up here, once, before any model is read.
configure_mappers()
