"""What people type after /cancel-sub, split into a request, a status query, an admin command, or an error."""

from __future__ import annotations

from dataclasses import dataclass

from bot import messages

REASON_MIN, REASON_MAX = 3, 500
MAX_TEXT = 4000


@dataclass(frozen=True)
class Parsed:
    kind: str  # help | status | request | roles | grant | revoke | audit | export | error
    provider: str = ""
    subscription_id: str = ""
    reason: str = ""
    request_id: str = ""
    error: str = ""
    target: str = ""  # grant/revoke: the user; audit: a request id, user or subscription id
    role: str = ""
    since: str = ""


ADMIN_WORDS = ("roles", "grant", "revoke", "audit", "export")


def parse(text: str) -> Parsed:
    """Split the command text; say exactly what is wrong when it cannot be understood."""
    text = (text or "").strip()
    if not text or text.lower() in {"help", "-h", "--help", "?"}:
        return Parsed("help")
    if len(text) > MAX_TEXT:
        return Parsed("error", error=f"That is {len(text)} characters; a request fits in {MAX_TEXT}.")
    words = text.split(None, 2)
    first = words[0].lower()
    if first in ADMIN_WORDS:
        return _parse_admin(first, text.split()[1:])
    if first == "status":
        if len(words) != 2:
            return Parsed("error", error=f"Usage: `{messages.COMMAND} status <request-id>`, e.g. CR-7K3M9Q2A.")
        return Parsed("status", request_id=words[1].strip().upper())
    if len(words) == 1:
        return Parsed(
            "error",
            error="Missing the subscription id and the reason: "
            f"`{messages.COMMAND} {_short(words[0])} <subscription-id> <reason>`.",
        )
    if len(words) == 2:
        return Parsed("error", error=f"A reason is required ({REASON_MIN} to {REASON_MAX} characters), after the id.")
    reason = " ".join(words[2].split())
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        return Parsed(
            "error", error=f"The reason must be {REASON_MIN} to {REASON_MAX} characters (it is {len(reason)})."
        )
    return Parsed("request", provider=first, subscription_id=words[1], reason=reason)


def _parse_admin(word: str, args: list[str]) -> Parsed:
    since = ""
    if "--since" in args:
        at = args.index("--since")
        if at + 1 >= len(args):
            return Parsed("error", error="`--since` needs a value, e.g. `--since 7d` or `--since 2026-11-01`.")
        since = args[at + 1]
        args = args[:at] + args[at + 2 :]
    if word == "roles" and not args:
        return Parsed("roles")
    if word in ("grant", "revoke") and len(args) == 2:
        return Parsed(word, target=args[0], role=args[1])
    if word == "audit" and len(args) == 1:
        return Parsed("audit", target=args[0], since=since)
    if word == "export" and not args:
        return Parsed("export", since=since)
    usage = {
        "roles": "roles",
        "grant": "grant @user <requester|approver|admin>",
        "revoke": "revoke @user <requester|approver|admin>",
        "audit": "audit <subscription-id | @user | request-id> [--since 7d]",
        "export": "export [--since 30d]",
    }[word]
    return Parsed("error", error=f"Usage: `{messages.COMMAND} {usage}`.")


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
