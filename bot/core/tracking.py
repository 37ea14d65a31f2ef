"""What Slack has been shown of each request: the card's dirty flag, the thread's lease and last shown event, and
which status the requester was told of. Slack may fail at any point; these rows say what is still owed."""

from __future__ import annotations

from datetime import timedelta

from bot.core.context import Core
from storage import audit, notices, requests, roles
from storage.models import AuditEvent, CancellationRequest, RequestStatus, Role

S = RequestStatus

SLACK_BACKOFF_FIRST = timedelta(seconds=30)
SLACK_BACKOFF_MAX = timedelta(hours=1)

# A requester's own withdrawal needs no DM; everything else that happens to their request does.
TOLD = frozenset({S.EXECUTING, S.CANCELLED, S.ALREADY_CANCELLED, S.FAILED, S.UNKNOWN, S.REJECTED, S.EXPIRED})


def current(core: Core, request_id: str) -> CancellationRequest | None:
    with core.database.read() as db:
        return requests.find(db, request_id)


def moved_on(core: Core, request: CancellationRequest) -> bool:
    """Whether the request's status or outcome changed since `request` was read (or it is gone)."""
    if S(request.status) not in requests.ALLOWED:
        return False  # a final status and its outcome never change: nothing to read
    with core.database.read() as db:
        return requests.state_of(db, request.id) != (request.status, request.outcome)


def card_failed(core: Core, request_id: str) -> None:
    """The card could not be updated: the sweep shows the current state when Slack answers again."""
    with core.database.alone() as db:
        requests.mark_card_dirty(db, request_id)


def card_shown(core: Core, request_id: str, *, status: str) -> None:
    """The card shows `status`: clear the dirty flag unless the request has moved on since."""
    with core.database.alone() as db:
        requests.mark_card_clean(db, request_id, shown_status=status)


def take_thread(
    core: Core,
    request: CancellationRequest,
    *,
    lease: timedelta,
    dead_after: timedelta,
    behind: bool = False,
    known: list[AuditEvent] | None = None,
) -> tuple[int, list[AuditEvent]] | None:
    """Become the one worker posting to this request's thread, with the last event shown and the events it
    lacks; None when nothing is owed or another worker holds the thread (it posts these too). `behind`: the
    caller knows events were added since `request` was read (it just made one), so there is no need to look;
    `known`: those events, read again only when the thread lacks more than them."""
    if not behind:
        with core.database.read() as db:
            if requests.last_event_sequence(db, request.id) <= request.thread_sequence:
                return None  # nothing to post: no lease, no write
    now = core.clock()
    with core.database.alone() as db:
        locked = requests.lock_thread(
            db, request.id, owner=core.process_id, now=now, stale_before=now - lease, dead_before=now - dead_after
        )
        if locked is None:
            return None
        shown, first_unshown = locked
        if first_unshown is None:
            return shown, []
        if known and known[0].sequence == first_unshown:
            return shown, known  # later events, if any, come with thread_shown
        return shown, audit.events_for_request(db, request.id, after=shown)


def thread_shown(core: Core, request_id: str, *, upto: int, tell: str | None = None) -> tuple[list[AuditEvent], bool]:
    """Record the last event shown and return the events added meanwhile; the lease is given back only when there
    are none, decided in the same statement, so an event committed by another worker is never left unposted. With
    `tell`, the same call also claims the requester's DM of that status (see claim_notification): whether it was
    claimed comes second."""
    with core.database.alone() as db:
        more = requests.thread_shown(db, request_id, upto=upto, now=core.clock())
        events = audit.events_for_request(db, request_id, after=upto) if more else []
        claimed = tell is not None and requests.claim_notification(db, request_id, status=tell)
    return events, claimed


def thread_progress(core: Core, request_id: str, *, upto: int) -> None:
    """One message of several was posted: record it at once, keeping (and renewing) the thread's lease."""
    with core.database.alone() as db:
        requests.thread_posted(db, request_id, upto=upto, now=core.clock())


def thread_failed(core: Core, request_id: str, *, upto: int) -> None:
    """Slack failed mid-thread: keep what was shown, give the lease back; the sweep catches up."""
    with core.database.alone() as db:
        requests.thread_posted(db, request_id, upto=upto)


def to_tell(request: CancellationRequest) -> str | None:
    """The status the requester has still to hear of, if any."""
    status = S(request.status)
    return status.value if status in TOLD and request.notified_status != status.value else None


def claim_notification(core: Core, request_id: str, *, status: str) -> bool:
    """Whether this caller is the one to tell the requester that the request is `status` (decided in the database,
    so across replicas too)."""
    with core.database.alone() as db:
        return requests.claim_notification(db, request_id, status=status)


def release_notification(core: Core, request: CancellationRequest) -> None:
    """The DM could not be sent: the requester counts as not told, and a later sync tries again."""
    with core.database.alone() as db:
        requests.release_notification(db, request.id, status=request.status)


def needing_catch_up(core: Core) -> list[CancellationRequest]:
    """Requests whose card, thread or requester Slack still owes something, oldest first; not those Slack gave up
    on, nor those backing off after a failure."""
    with core.database.read() as db:
        return requests.needing_slack_catch_up(db, told=TOLD, now=core.clock())


def slack_failed(core: Core, request: CancellationRequest) -> None:
    """A transient failure: back off (30 s, doubling, at most an hour) before the catch-up tries again."""
    backoff = min(SLACK_BACKOFF_FIRST * 2**request.slack_failures, SLACK_BACKOFF_MAX)
    with core.database.alone() as db:
        requests.slack_failed(db, request.id, retry_at=core.clock() + backoff)


def slack_recovered(core: Core, request: CancellationRequest) -> None:
    if request.slack_failures:
        with core.database.alone() as db:
            requests.slack_recovered(db, request.id)


def slack_gave_up_on_dm(core: Core, request: CancellationRequest, *, error: str) -> None:
    """The requester cannot be sent a DM (gone, deactivated): the audit says so; the claim stays."""
    with core.database.write() as db:
        audit.append(
            db,
            actor="system",
            action="slack.gave_up",
            request_id=request.id,
            detail={"what": "dm", "error": error, "status": request.status},
        )


def slack_gave_up(core: Core, request_id: str, *, error: str, what: str) -> bool:
    """A permanent failure ends the catch-up of this request, with an audit event; True for the one caller that
    recorded it (who tells the admins)."""
    with core.database.write() as db:
        if not requests.slack_gave_up(db, request_id, error=error):
            return False
        audit.append(
            db, actor="system", action="slack.gave_up", request_id=request_id, detail={"what": what, "error": error}
        )
    return True


def claim_alert(core: Core, *, subject: str, kind: str) -> list[str]:
    """The admins to tell about `subject` and `kind`, or nobody when it was already reported this hour."""
    now = core.clock()
    with core.database.write() as db:
        if not notices.claim(db, subject=subject, kind=kind, window=notices.hour_window(now), now=now):
            return []
        return roles.holders(db, Role.ADMIN)
