"""The words people read: outcomes, refusals, usage. Plain text with Slack mrkdwn; no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.workflow import Refusal
from providers.base import Outcome
from storage.models import AuditEvent, CancellationRequest, RequestStatus

S = RequestStatus

COMMAND = "/cancel-sub"


def mention(user_id: str | None) -> str:
    if not user_id or user_id == "system":
        return "the bot"
    if user_id.startswith("cli:"):
        return f"`{user_id}`"
    return f"<@{user_id}>"


def when(moment: datetime | None) -> str:
    """Slack shows this in each reader's own time zone; the fallback is UTC."""
    if moment is None:
        return "an unknown time"
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


OUTCOME_WORDS = {
    Outcome.CANCELLED: "Cancelled at the provider.",
    Outcome.ALREADY_CANCELLED: "It was already cancelled at the provider; nothing changed.",
    Outcome.NOT_FOUND: "The provider does not know this subscription; nothing was cancelled.",
    Outcome.NOT_CANCELLABLE: "The provider refused to cancel it; nothing was cancelled.",
    Outcome.AUTH_FAILED: "The provider did not accept our credentials; nothing was cancelled. An admin must fix it.",
    Outcome.FORBIDDEN: "Our provider account may not do this; nothing was cancelled. An admin must fix it.",
    Outcome.RATE_LIMITED: "The provider asked us to slow down; nothing was cancelled yet. Retry in a minute.",
    Outcome.PROVIDER_ERROR: "The provider had a problem; nothing was cancelled yet. It is safe to retry.",
    Outcome.UNKNOWN: (
        "We sent the cancel but lost the answer: it may or may not be cancelled. Verify before anything else."
    ),
}


def outcome_words(outcome: str | None, *, retry_safe: bool = True) -> str:
    if outcome is None:
        return ""
    words = OUTCOME_WORDS.get(Outcome(outcome), outcome)
    if Outcome(outcome) in (Outcome.RATE_LIMITED, Outcome.PROVIDER_ERROR) and not retry_safe:
        words = "The provider answered in a way we did not expect; nothing is known to be cancelled."
    return words


def status_line(request: CancellationRequest) -> str:
    """One line saying where the request stands, for the card and for /cancel-sub status."""
    status = S(request.status)
    by, at = mention(request.decided_by), when(request.decided_at)
    if status is S.PENDING:
        return f":hourglass_flowing_sand: Waiting for an approver. Expires {when(request.expires_at)}."
    if status is S.EXECUTING:
        return f":arrows_counterclockwise: Approved by {by} {at}, cancelling…"
    if status is S.CANCELLED:
        return f":white_check_mark: *Cancelled.* Approved by {by} {at}; done {when(request.finished_at)}."
    if status is S.ALREADY_CANCELLED:
        return f":white_check_mark: *Already cancelled* at the provider; nothing changed. Approved by {by} {at}."
    if status is S.FAILED:
        words = outcome_words(request.outcome, retry_safe=request.retry_safe)
        return f":x: *Not cancelled.* {words}"
    if status is S.UNKNOWN:
        return f":warning: *Result unknown.* {outcome_words(request.outcome)}"
    if status is S.REJECTED:
        return f":no_entry_sign: *Rejected* by {by} {at}. Nothing was cancelled."
    if status is S.WITHDRAWN:
        if request.decided_by is None:
            return ":leftwards_arrow_with_hook: *Closed:* the card could not be posted. Nothing was cancelled."
        return f":leftwards_arrow_with_hook: *Withdrawn* by {by} {at}. Nothing was cancelled."
    if status is S.EXPIRED:
        return f":alarm_clock: *Expired* {when(request.finished_at)} without a decision. Nothing was cancelled."
    return str(status)


def refusal_text(
    refusal: Refusal, request: CancellationRequest | None = None, detail: str = "", *, viewer: str | None = None
) -> str:
    if refusal is Refusal.NO_ROLE:
        needed = detail or "a"
        return (
            f"This needs the {needed} role, and you don't have it. Ask an admin of this bot to grant it "
            f"(an admin runs `cancel-sub roles grant <your user id> {detail or 'requester'}`)."
        )
    if refusal is Refusal.SELF_APPROVAL:
        return "You asked for this cancellation, so someone else has to approve it (two-person rule)."
    if refusal is Refusal.NOT_REQUESTER:
        return "Only the person who asked for this cancellation can withdraw it."
    if refusal is Refusal.NO_SUCH_REQUEST:
        return "That request does not exist (check the id: it looks like CR-7K3M9Q2A)."
    if refusal is Refusal.OVER_LIMIT:
        return f"Limit reached: {detail}"
    if refusal is Refusal.NOT_RETRYABLE:
        return "This failure is final: retrying would not change it. Ask for a new request once the cause is fixed."
    if request is not None and refusal in (Refusal.ALREADY_DECIDED, Refusal.EXPIRED):
        if viewer is not None and viewer == request.decided_by and S(request.status) is not S.EXPIRED:
            return f"You already decided request {request.id}: it is {_decided(request)} (the click was counted once)."
        return f"Too late: request {request.id} is already {_decided(request)}."
    return detail or refusal.value


def _decided(request: CancellationRequest) -> str:
    status = S(request.status)
    by, at = mention(request.decided_by), when(request.decided_at)
    if status in (S.EXECUTING, S.CANCELLED, S.ALREADY_CANCELLED, S.FAILED, S.UNKNOWN):
        return f"approved by {by} {at} (now {status.value.replace('_', ' ')})"
    if status is S.REJECTED:
        return f"rejected by {by} {at}"
    if status is S.WITHDRAWN:
        return f"withdrawn by {by} {at}" if request.decided_by else "closed"
    if status is S.EXPIRED:
        return f"expired {when(request.finished_at)}"
    return status.value


ACTION_WORDS = {
    "request.created": "asked to cancel",
    "request.approved": "approved",
    "request.rejected": "rejected",
    "request.withdrawn": "withdrew the request",
    "request.expired": "expired the request",
    "request.retried": "retried",
    "request.verified": "verified at the provider",
    "request.verify_inconclusive": "tried to verify; the provider could not say",
    "request.recovered": "settled the request after a restart",
    "provider.answered": "got the provider's answer",
    "provider.read": "read the subscription before retrying",
    "approval.refused": "was refused approval",
    "access.denied": "was refused (no role)",
    "limit.approvals": "was refused (approval limit reached)",
}


def audit_line(event: AuditEvent) -> str:
    """One thread line per audit event: who, what, when, and the outcome where there is one."""
    import json

    detail = json.loads(event.detail)
    words = ACTION_WORDS.get(event.action, event.action)
    line = f"`#{event.sequence}` {when(event.time)} · {mention(event.actor)} {words}"
    if "outcome" in detail:
        status = f", HTTP {detail['http_status']}" if detail.get("http_status") else ""
        elapsed = f", {detail['elapsed_ms']} ms" if "elapsed_ms" in detail else ""
        said = detail.get("provider_detail") or ""
        line += f": *{detail['outcome']}*{status}{elapsed}" + (f" — {said}" if said else "")
    elif event.action == "request.created":
        line += f": _{detail.get('reason', '')}_"
    elif "why" in detail:
        line += f" ({detail['why']})"
    return line


def usage(enabled: str) -> str:
    return "\n".join(
        [
            f"*{COMMAND}* asks for a subscription to be cancelled; an approver confirms it.",
            f"• `{COMMAND} <provider> <subscription-id> <reason>` ask (reason: 3 to 500 characters)",
            f"• `{COMMAND} status <request-id>` where a request stands, with its history",
            f"• `{COMMAND} help` this message",
            f"Approvers: `{COMMAND} audit <subscription-id | @user | request-id> [--since 7d]`.",
            f"Admins: `{COMMAND} roles`, `{COMMAND} grant @user <role>`, `{COMMAND} revoke @user <role>`, "
            f"`{COMMAND} export [--since 30d]`.",
            f"Providers: {enabled}.",
            f"Example: `{COMMAND} sandbox sb_1001 customer asked by email on 2 Nov`",
        ]
    )
