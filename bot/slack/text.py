"""Every sentence people read in Slack: outcomes, refusals, confirmations, usage. Plain mrkdwn; no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.admin import AuditLookup, AuditSubject, Change, RoleChange, RoleRefusal
from bot.core.results import Refusal, Result
from providers.base import EmailSearch, Outcome
from storage.models import AuditEvent, CancellationRequest, RequestStatus, RoleAssignment, RoleGrant

S = RequestStatus

COMMAND = "/cancel-sub"
SUMMARY_LINES = 25


def escape(value: str) -> str:
    """Text typed by a person or returned by a provider, shown in mrkdwn: no mentions, links or channel pings
    smuggled in."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(value: str, limit: int) -> str:
    """At most `limit` characters. A cut never splits Slack markup (a mention, a date, a link in <…>) or an
    escaped character (&amp;): it moves back to before the token it would split."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    opened, closed = cut.rfind("<"), cut.rfind(">")
    if opened > closed:
        cut = cut[:opened]
    ampersand = cut.rfind("&")
    if ampersand != -1 and ";" not in cut[ampersand:]:
        cut = cut[:ampersand]
    return cut + "…"


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
    Outcome.RATE_LIMITED: "The provider asked us to slow down before acting; nothing was cancelled. Retry in a minute.",
    Outcome.PROVIDER_ERROR: (
        "The provider had a problem and did not confirm the cancel. Retry reads the subscription first and cancels "
        "only if it still runs."
    ),
    Outcome.UNKNOWN: "The provider may have acted, but we have no answer that says so. Verify before anything else.",
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
        reason = " ".join((request.decision_reason or "").split())
        why = f" Reason: _{escape(clip(reason, 600))}_" if reason else ""
        return f":no_entry_sign: *Rejected* by {by} {at}. Nothing was cancelled.{why}"
    if status is S.WITHDRAWN:
        if request.decided_by is None:
            return ":leftwards_arrow_with_hook: *Closed:* the card could not be posted. Nothing was cancelled."
        return f":leftwards_arrow_with_hook: *Withdrawn* by {by} {at}. Nothing was cancelled."
    if status is S.EXPIRED:
        return f":alarm_clock: *Expired* {when(request.finished_at)} without a decision. Nothing was cancelled."
    return str(status)


def refusal_text(result: Result, *, viewer: str | None = None) -> str:
    """Why a click or a command did nothing, for the person who tried."""
    refusal, request, detail = result.refusal or Refusal.ALREADY_DECIDED, result.request, result.detail
    if refusal is Refusal.NO_ROLE:
        needed = result.needed.value if result.needed else "requester"
        return (
            f"This needs the {needed} role, and you don't have it. Ask an admin of this bot to grant it "
            f"(an admin runs `cancel-sub roles grant &lt;your user id&gt; {needed}`)."
        )
    if refusal is Refusal.PROVIDER_PROBLEM and request is not None:
        return f"The provider could not say whether it is cancelled ({escape(detail)}). Try Verify again later."
    if refusal is Refusal.SELF_APPROVAL:
        return "You asked for this cancellation, so someone else has to approve it (two-person rule)."
    if refusal is Refusal.NOT_REQUESTER:
        return "Only the person who asked for this cancellation can withdraw it."
    if refusal is Refusal.NO_SUCH_REQUEST:
        return "That request does not exist (check the id: it looks like CR-7K3M9Q2A)."
    if refusal is Refusal.OVER_LIMIT:
        if request is not None:
            return (
                f"Limit reached: {result.limit} approvals in an hour is the limit; another approver can take this one."
            )
        return f"Limit reached: {result.limit} requests in 24 hours is the limit; ask an admin if you need more."
    if refusal is Refusal.NOT_RETRYABLE:
        return "This failure is final: retrying would not change it. Ask for a new request once the cause is fixed."
    if request is not None and refusal in (Refusal.ALREADY_DECIDED, Refusal.EXPIRED):
        if viewer is not None and viewer == request.decided_by and S(request.status) is not S.EXPIRED:
            return f"You already decided request {request.id}: it is {_decided(request)} (the click was counted once)."
        return f"Too late: request {request.id} is already {_decided(request)}."
    return escape(detail) or refusal.value


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
    "refusals.repeated": "was refused again, more times (counted, not each written)",
    "request.reminded": "reminded the approvers",
    "request.escalated": "told the admins it is still waiting",
}


def audit_line(event: AuditEvent) -> str:
    """One thread line per audit event: who, what, when, and the outcome where there is one."""
    detail = json.loads(event.detail)
    words = ACTION_WORDS.get(event.action, event.action)
    line = f"`#{event.sequence}` {when(event.time)} · {mention(event.actor)} {words}"
    if "outcome" in detail:
        status = f", HTTP {detail['http_status']}" if detail.get("http_status") else ""
        elapsed = f", {detail['elapsed_ms']} ms" if "elapsed_ms" in detail else ""
        said = detail.get("provider_detail") or ""
        line += f": *{detail['outcome']}*{status}{elapsed}" + (f" — {escape(str(said))}" if said else "")
    elif event.action == "request.created":
        reason = " ".join(str(detail.get("reason", "")).split())
        line += f": _{escape(reason)}_"
        if detail.get("ticket"):
            line += f" · ticket: {escape(str(detail['ticket']))}"
    elif "why" in detail:
        line += f" ({escape(str(detail['why']))})"
    elif event.action == "request.reminded":
        line += f" after {detail.get('waited_minutes', '?')} min: {_approvers_named(detail)}"
    elif event.action == "request.escalated":
        line += f" after {detail.get('waited_minutes', '?')} min"
    return line


def _approvers_named(detail: dict[str, Any]) -> str:
    """The reminder's mentions: the user group, or each approver (ids from the role table, never typed text)."""
    if detail.get("group"):
        return f"<!subteam^{detail['group']}>, this waits for one of you."
    named = " ".join(mention(str(user)) for user in detail.get("approvers", []))
    more = f" and {detail['more']} more approvers" if detail.get("more") else ""
    return f"{named}{more}, this waits for one of you." if named else "no approver holds the role: an admin grants it."


def escalation(request: CancellationRequest, *, waited: timedelta) -> str:
    minutes = int(waited.total_seconds() // 60)
    return (
        f":hourglass: Request `{request.id}` by {mention(request.requester)} in <#{request.channel}> to cancel "
        f"`{escape(request.subscription_id)}` has waited {minutes} minutes for an approver. It expires "
        f"{when(request.expires_at)}."
    )


def usage(enabled: str) -> str:
    return "\n".join(
        [
            f"*{COMMAND}* asks for a subscription to be cancelled; an approver confirms it.",
            f"• `{COMMAND}` alone opens a form (also the *Cancel a subscription* shortcut, and *Request "
            "cancellation* on any message)",
            f"• `{COMMAND} {escape('<provider> <subscription-id> <reason>')}` ask in one line (reason: 3 to 500 "
            "characters); the customer's email in place of the id lists their subscriptions to pick from",
            f"• `{COMMAND} status {escape('<request-id>')}` where a request stands, with its history",
            f"• `{COMMAND} help` this message",
            f"Approvers: `{COMMAND} audit {escape('<subscription-id | @user | request-id>')} [--since 7d]`.",
            f"Admins: `{COMMAND} roles`, `{COMMAND} grant @user {escape('<role>')}`, "
            f"`{COMMAND} revoke @user {escape('<role>')}`, "
            f"`{COMMAND} export [--since 30d]`.",
            f"Providers: {enabled}.",
            f"Example: `{COMMAND} sandbox sb_1001 customer asked by email on 2 Nov`",
        ]
    )


# -- command line usage errors -------------------------------------------------------------------------------

SINCE_NEEDS_VALUE = "`--since` needs a value, e.g. `--since 7d` or `--since 2026-11-01`."
UNSTORABLE_TEXT = "The text holds control characters (such as NUL) that cannot be stored; type it again without them."


def too_long(length: int, limit: int) -> str:
    return f"That is {length} characters; a request fits in {limit}."


def usage_of(form: str, *, example: str = "") -> str:
    return f"Usage: `{COMMAND} {escape(form)}`" + (f", e.g. {escape(example)}." if example else ".")


def missing_id_and_reason(provider: str) -> str:
    shown = provider if len(provider) <= 30 else provider[:30] + "…"
    usage = escape(f"{shown} <subscription-id> <reason>")
    return f"Missing the subscription id and the reason: `{COMMAND} {usage}`."


def reason_required(low: int, high: int) -> str:
    return f"A reason is required ({low} to {high} characters), after the id."


def reason_length(low: int, high: int, length: int) -> str:
    return f"The reason must be {low} to {high} characters (it is {length})."


def invalid_command(error: str, enabled: str) -> str:
    return f":warning: {error}\n\n{usage(enabled)}"


def warning(problem: str) -> str:
    return f":warning: {escape(problem)}"


# -- asking ----------------------------------------------------------------------------------------------------


def looking_up(subscription_id: str, provider_label: str) -> str:
    return f"Looking up `{escape(subscription_id)}` at {provider_label}…"


def posted(request_id: str) -> str:
    return f"Request `{request_id}` is posted and waits for an approver."


def lookup_refusal(result: Result, *, subscription_id: str, provider_label: str) -> str:
    """Why no request was made after the lookup."""
    refusal = result.refusal
    if refusal in (Refusal.OVER_LIMIT, Refusal.NO_ROLE):
        return refusal_text(result)
    sub = f"`{escape(subscription_id)}`"
    if refusal is Refusal.ALREADY_REQUESTED and result.request is not None:
        covering = result.request
        return (
            f"Request `{covering.id}` by {mention(covering.requester)} in <#{covering.channel}> already covers "
            f"{provider_label} subscription {sub} ({S(covering.status).value.replace('_', ' ')}), so no second "
            "request was made. Follow that one: its card has the buttons."
        )
    if refusal is Refusal.NOT_FOUND:
        return f"{provider_label} has no subscription {sub}. Check the id (no request was made)."
    if refusal is Refusal.ALREADY_CANCELLED:
        return f"{provider_label} subscription {sub} is already cancelled. Nothing to do (no request was made)."
    if refusal is Refusal.NOT_CANCELLABLE:
        return f"{provider_label} subscription {sub} has ended and cannot be cancelled (no request was made)."
    if refusal in (Refusal.UNKNOWN_PROVIDER, Refusal.INVALID_ID):
        return warning(result.detail)
    return (
        f"Could not read {sub} at {provider_label}, so no request was made: {escape(result.detail) or 'no details'}. "
        "If this persists, an admin should check the provider settings."
    )


def unposted(error: str | None, request_id: str, *, channel_error: bool) -> str:
    if channel_error:
        return (
            "I can't post in this channel, so nothing was requested "
            f"(request `{request_id}` is closed). Invite me with `/invite @cancel-sub` and run the command again, "
            "or use it in a channel I'm in."
        )
    return (
        f"Slack did not accept the request card ({error}), so nothing was requested (request `{request_id}` is "
        "closed). Please try again in a minute."
    )


def slack_gave_up(request: CancellationRequest, what: str, error: str) -> str:
    return (
        f":warning: Slack refused the {what} of request `{request.id}` for good ({error}); the bot stops trying. "
        f"The request itself is unaffected: `{COMMAND} status {request.id}` shows where it stands."
    )


def requester_dm(request: CancellationRequest) -> str:
    return f"Your request `{request.id}` to cancel `{escape(request.subscription_id)}`: {status_line(request)}"


# -- admins ----------------------------------------------------------------------------------------------------


def denied_alert(user: str, *, attempted: str, needed: str) -> str:
    return f":warning: <@{user}> tried to {attempted} without the {needed} role (reported at most once an hour)."


def over_limit_alert(user: str, *, kind: str, limit: int) -> str:
    window = "24 hours" if kind == "requests" else "an hour"
    return f":warning: <@{user}> reached the {kind} limit: {limit} {kind} in {window}."


def name_with_mention(word: str) -> str:
    return f":warning: Name the person with a mention, e.g. `{COMMAND} {word} @alex approver`."


def roles_list(assignments: list[RoleAssignment], *, limit: int = 3900) -> str:
    """Every role, as many as one message holds; a cut list says how many more there are and where they are."""
    if not assignments:
        return "No roles yet."
    lines = [
        f"• <@{a.user_id}> {a.role} (granted by {mention(a.granted_by)} {when(a.granted_at)})" for a in assignments
    ]
    return fitted(f"*Roles* ({len(lines)})", lines, limit=limit, more="`cancel-sub roles list` on the server")


def fitted(head: str, lines: list[str], *, limit: int, more: str) -> str:
    """`head` and as many whole `lines` as fit in `limit` characters, then how many were left out and where."""
    kept: list[str] = []
    size = len(head)
    for number, line in enumerate(lines):
        left = len(lines) - number
        tail = f"\n… and {left} more: {more}" if left else ""
        if size + 1 + len(line) + len(tail) > limit:
            return "\n".join([head, *kept]) + tail
        kept.append(line)
        size += 1 + len(line)
    return "\n".join([head, *kept])


def role_change(change: RoleChange) -> str:
    """What a role command did, for the person who ran it and for the channel."""
    actor, who, role = f"<@{change.actor}>", f"<@{change.user_id}>", change.role.value if change.role else ""
    match change.change:
        case Change.GRANTED:
            return f"{actor} granted the {role} role to {who}."
        case Change.REVOKED:
            return f"{actor} revoked the {role} role from {who}."
        case Change.PROPOSED if change.revoking:
            return f"{actor} proposes taking the {role} role from {who}; another admin must confirm."
        case Change.PROPOSED:
            return f"{actor} proposes the {role} role for {who}; another admin must confirm."
        case Change.CONFIRMED if change.revoking:
            return f"{actor} confirmed: {who} no longer has the {role} role."
        case Change.CONFIRMED:
            return f"{actor} confirmed: {who} now has the {role} role."
        case Change.DECLINED if change.revoking:
            return f"{actor} declined taking the {role} role from {who}."
        case Change.DECLINED:
            return f"{actor} declined the {role} role for {who}."
        case Change.UNCHANGED:
            return f"{who} does not have the {role} role." if change.revoking else f"{who} already has the {role} role."
    return role_refusal(change)


def role_refusal(change: RoleChange) -> str:
    match change.refusal:
        case RoleRefusal.NOT_ADMIN:
            if change.grant is not None:
                return "Only admins can confirm or decline role changes."
            return "Only admins can change roles."
        case RoleRefusal.NO_SUCH_GRANT:
            return "That role change does not exist."
        case RoleRefusal.SELF_CONFIRMATION:
            return "You proposed this change, so another admin has to confirm it."
        case RoleRefusal.TOO_LATE if change.grant is not None:
            by = f" by <@{change.grant.decided_by}>." if change.grant.decided_by else "."
            return f"Too late: this role change is already {change.grant.status}{by}"
        case RoleRefusal.INVALID:
            return warning(change.detail)
    return escape(change.detail)


def announce_failed(*, proposal: bool) -> str:
    return "The change is recorded, but I can't post in this channel (invite me with `/invite`). " + (
        "The proposal can be confirmed once it is posted; propose it again where I am." if proposal else ""
    )


def grant_state(grant: RoleGrant) -> str:
    match grant.status:
        case "pending":
            return f":hourglass_flowing_sand: Waiting for another admin. Expires {when(grant.expires_at)}."
        case "confirmed":
            return f":white_check_mark: *Confirmed* by {mention(grant.decided_by)} {when(grant.decided_at)}."
        case "declined":
            return f":no_entry_sign: *Declined* by {mention(grant.decided_by)} {when(grant.decided_at)}."
    return f":alarm_clock: *Expired* {when(grant.decided_at)} without a decision."


def grant_summary(grant: RoleGrant) -> str:
    who, by = mention(grant.user_id), mention(grant.requested_by)
    if grant.change == "revoke":
        return f"*Role change:* take the *{grant.role}* role from {who}, proposed by {by}."
    return f"*Role change:* the *{grant.role}* role for {who}, proposed by {by}."


def grant_plain(grant: RoleGrant) -> str:
    what = f"take {grant.role} from" if grant.change == "revoke" else f"{grant.role} for"
    return f"Role change: {what} {mention(grant.user_id)}, proposed by {mention(grant.requested_by)} ({grant.status})"


def grant_confirm_dialog(grant: RoleGrant) -> tuple[str, str]:
    if grant.change == "revoke":
        return f"Take {grant.role} rights?", f"{mention(grant.user_id)} will no longer be able to act as {grant.role}."
    return f"Give {grant.role} rights?", f"{mention(grant.user_id)} will be able to act as {grant.role}."


# -- audit -----------------------------------------------------------------------------------------------------


def audit_subject(found: AuditLookup) -> str:
    match found.subject:
        case AuditSubject.REQUEST:
            return f"request {found.key}"
        case AuditSubject.USER:
            return f"<@{found.key}>"
    return f"subscription `{escape(found.key)}`"


def audit_summary(found: AuditLookup, since: datetime | None) -> str:
    label, events = audit_subject(found), found.events
    if not events:
        return f"No audit events for {label}" + (f" since {when(since)}." if since else ".")
    shown = events[-SUMMARY_LINES:]
    head = f"*Audit for {label}*: {found.total} events" + (f" since {when(since)}" if since else "")
    if found.total > len(shown):
        head += f" (the last {len(shown)} shown; `{COMMAND} export` has them all)"
    return head + "\n" + "\n".join(audit_line(e) for e in shown)


EXPORT_PREPARING = "Preparing the audit export; it arrives as a CSV file in a direct message."
EXPORT_FAILED = "The export could not be sent to you by DM. Try again, or run `cancel-sub audit export` on the server."


def export_comment(count: int, since: datetime | None) -> str:
    return f"The audit log: {count} events" + (f" since {when(since)}." if since else ".")


# -- cards and the App Home ------------------------------------------------------------------------------------

APPROVE_DIALOG = ("Cancel this subscription?", "Cancel it")
REQUEST_FORM_TITLE = "Cancel a subscription"
REQUEST_FORM_SUBMIT = "Ask"
FORM_SUBSCRIPTION_HINT = (
    "The id at the provider (a Kajabi purchase id, a OneKey subscription id), or the customer's email: the bot "
    "then lists their subscriptions to pick from (OneKey needs the id)."
)
FORM_REASON_HINT = "Why the customer is cancelling: 3 to 500 characters. Approvers and the audit log see it."
FORM_FOOTER = "An approver other than you decides; the card, its thread and your DMs show every step."
FORM_OPENING_FAILED = (
    "I could not open the form (Slack said no in time). Try again, or type "
    f"`{COMMAND} {escape('<provider> <subscription-id> <reason>')}`."
)
PICK_A_PROVIDER = "Pick one of the enabled providers."
TICKET_NOT_A_LINK = "Give a web link (https://…) of at most 500 characters, or leave it empty."
CHANNEL_NEEDED = "Pick the channel where approvers should see the request."
PICK_FORM_TITLE = "Pick the subscription"
PICK_NOT_UNDERSTOOD = "That choice could not be read. Ask again with the subscription id or the customer's email."


def picked(subscription_id: str, label: str) -> str:
    return f"Asking for `{escape(subscription_id)}` at {escape(label)}…"


SEARCH_HAS_MORE = (
    "This customer has more subscriptions than are listed here: ask with the subscription id for the others."
)


def searching(label: str) -> str:
    return f":mag: Looking for the customer's subscriptions at {escape(label)}…"


def needs_id(label: str) -> str:
    return f"{escape(label)} cannot look a customer up by email: give the subscription id instead."


def pick_heading(*, label: str, total: int, first: int, last: int) -> str:
    where = f"{first} to {last} of {total}" if total > last - first + 1 else f"{total}"
    return f"The customer's subscriptions at {escape(label)} ({where}; active ones first). Pick the one to cancel:"


def search_outcome(search: EmailSearch, *, label: str) -> str | None:
    """Why nothing can be picked, or None when there are subscriptions to choose from."""
    where = escape(label)
    if search.problem is not None:
        said = escape(search.detail) or search.problem.value
        return f":warning: Could not search {where} ({said}). Try again, or give the subscription id."
    if search.customers == 0:
        return f"No customer at {where} has that email. Check it, or give the subscription id."
    if search.customers > 1:
        return f"{search.customers} customers at {where} match that email: give the subscription id instead."
    if not search.candidates:
        return f"That customer has no subscriptions at {where}."
    return None


REJECT_FORM_TITLE = "Reject request"  # a modal's title and buttons: 24 characters at most
REJECT_FORM_SUBMIT = "Reject"
FORM_CLOSE = "Cancel"
REJECT_REASON_LABEL = "Why? The requester and the audit log will see this."
REJECT_REASON_PLACEHOLDER = "e.g. the customer asked to stay on the plan (ticket #4812)"
FORM_NOT_OPENED = "I could not open the form (Slack said no in time). Click the button again."


def reject_form_intro(request: CancellationRequest) -> str:
    return (
        f"Reject request `{request.id}` to cancel `{escape(request.subscription_id)}`, asked by "
        f"{mention(request.requester)}? Nothing will be cancelled."
    )


REJECT_REASON_REQUIRED = "A reason is required: the requester is told why."
WITHDRAW_DIALOG = ("Withdraw your request?", "Only the requester can withdraw.", "Withdraw")
RETRY_DIALOG = (
    "Retry the cancel?",
    "The bot reads the subscription first and cancels only if it is still running. Approvers only.",
    "Retry",
)
VERIFY_DIALOG = (
    "Verify at the provider?",
    "The bot reads the subscription and settles this request. Nothing is cancelled by this button.",
    "Verify",
)
NOTHING_TO_DECIDE = "Nothing to decide right now."


def more_waiting(count: int) -> str:
    return f"… and {count} more waiting, newer than these: their cards are in the channels they were asked in."


NO_REQUESTS_YET = "You have not asked for any cancellation yet."
CHAIN_NOT_CHECKED = "The audit chain has not been checked yet; the bot checks it periodically."


def busy(provider_label: str | None) -> str:
    """A bulkhead is full: nothing was done, and the person should simply try again."""
    if provider_label:
        return (
            f":hourglass: {provider_label} is slow to answer right now, and as many requests as the bot lets wait "
            "for it are already waiting. Nothing was asked or changed; try again in a minute."
        )
    return ":hourglass: The bot is busy right now. Nothing was asked or changed; try again in a minute."


def audit_tip(sequence: int, digest: str, *, events: int) -> str:
    return (
        f":lock: Audit chain checked whole: {events} events. Tip: event {sequence}, sha256 `{digest}`.\n"
        "Keep this message: `cancel-sub audit verify --anchors-from-slack` compares the chain with every tip "
        "posted here, so a rewrite of the database is caught."
    )


def audit_break(description: str) -> str:
    return f":rotating_light: *Audit chain broken*: {escape(description)}. Run `cancel-sub audit verify` on the server."


def chain_verdict(ok: bool, events: int, description: str, checked_at: datetime) -> str:
    if ok:
        return f":white_check_mark: Audit chain intact ({events} events), checked {when(checked_at)}."
    return f":rotating_light: *Audit chain broken*: {escape(description)} (checked {when(checked_at)})."
