"""What people type after /cancel-sub, parsed into one typed command each (or a usage error saying what is wrong)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.slack import text

REASON_MIN, REASON_MAX = 3, 500
MAX_TEXT = 4000
# Control characters no reason needs, and NUL, which PostgreSQL cannot store in text: refused at the door.
UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class NewForm:
    """`/cancel-sub` alone, or `/cancel-sub new`: the request form."""


@dataclass(frozen=True)
class Invalid:
    error: str


@dataclass(frozen=True)
class AskCommand:
    provider: str
    subscription_id: str
    reason: str


@dataclass(frozen=True)
class Status:
    request_id: str


@dataclass(frozen=True)
class ListRoles:
    pass


@dataclass(frozen=True)
class Grant:
    target: str  # a mention as Slack escapes it (<@U123|name>) or a bare user id
    role: str


@dataclass(frozen=True)
class Revoke:
    target: str
    role: str


@dataclass(frozen=True)
class AuditQuery:
    target: str  # a request id, a mention, or a subscription id
    since: str = ""


@dataclass(frozen=True)
class Export:
    since: str = ""


Command = Help | NewForm | Invalid | AskCommand | Status | ListRoles | Grant | Revoke | AuditQuery | Export

USAGE = {
    "roles": "roles",
    "grant": "grant @user <requester|approver|admin>",
    "revoke": "revoke @user <requester|approver|admin>",
    "audit": "audit <subscription-id | @user | request-id> [--since 7d]",
    "export": "export [--since 30d]",
}


def parse(typed: str) -> Command:
    """Split the command text; say exactly what is wrong when it cannot be understood."""
    typed = unescape((typed or "").strip())
    if not typed or typed.lower() == "new":
        return NewForm()
    if typed.lower() in {"help", "-h", "--help", "?"}:
        return Help()
    if len(typed) > MAX_TEXT:
        return Invalid(text.too_long(len(typed), MAX_TEXT))
    if UNSTORABLE.search(typed):
        return Invalid(text.UNSTORABLE_TEXT)
    words = typed.split(None, 2)
    first = words[0].lower()
    if first in USAGE:
        return _parse_admin(first, typed.split()[1:])
    if first == "status":
        if len(words) != 2:
            return Invalid(text.usage_of("status <request-id>", example="CR-7K3M9Q2A"))
        return Status(words[1].strip().upper())
    if len(words) == 1:
        return Invalid(text.missing_id_and_reason(words[0]))
    if len(words) == 2:
        return Invalid(text.reason_required(REASON_MIN, REASON_MAX))
    reason = " ".join(words[2].split())
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        return Invalid(text.reason_length(REASON_MIN, REASON_MAX, len(reason)))
    return AskCommand(provider=first, subscription_id=words[1], reason=reason)


def reason_problem(reason: str, *, required: bool, missing: str = text.REJECT_REASON_REQUIRED) -> str | None:
    """What is wrong with a reason typed in a form, to show on its field; None when it will do."""
    if UNSTORABLE.search(reason):
        return text.UNSTORABLE_TEXT
    if not reason:
        return missing if required else None
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        return text.reason_length(REASON_MIN, REASON_MAX, len(reason))
    return None


def unescape(typed: str) -> str:
    """Slack sends a command's `&`, `<` and `>` as `&amp;`, `&lt;` and `&gt;`: the text as the person typed it, to
    be stored as such and escaped exactly once wherever it is shown (bot.slack.text.escape). Every word is taken
    so (ids, names, reasons): a mention Slack sends as `<@U123|name>` has nothing to unescape."""
    return typed.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _parse_admin(word: str, args: list[str]) -> Command:
    since = ""
    if "--since" in args:
        at = args.index("--since")
        if at + 1 >= len(args):
            return Invalid(text.SINCE_NEEDS_VALUE)
        since = args[at + 1]
        args = args[:at] + args[at + 2 :]
    match word, args:
        case "roles", []:
            return ListRoles()
        case "grant", [target, role]:
            return Grant(target, role)
        case "revoke", [target, role]:
            return Revoke(target, role)
        case "audit", [target]:
            return AuditQuery(target, since)
        case "export", []:
            return Export(since)
    return Invalid(text.usage_of(USAGE[word]))
