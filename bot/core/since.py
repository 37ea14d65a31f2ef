"""Parsing "since" values typed by people: `7d`, `12h`, `30m`, `2w`, or an ISO date or date-time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(\d{1,5})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(raw: str, *, now: datetime | None = None) -> datetime:
    """An aware UTC datetime; ValueError with a message a person can act on."""
    text = raw.strip().lower()
    now = now or datetime.now(UTC)
    match = _RELATIVE.fullmatch(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(
            f"{raw!r} is not a date: use 2026-11-01, 2026-11-01T08:00:00Z, or a span like 7d, 12h, 30m, 2w"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
