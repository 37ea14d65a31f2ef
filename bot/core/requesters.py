"""Users lately seen holding the requester role, so that the ack of a request needs no database read."""

from __future__ import annotations

import time
from collections.abc import Callable

# How long a yes from the database is trusted for an ack. A revoked requester's ack may still say "Looking up…"
# for this long; the work after it asks the database again and refuses (see bot.core.asking.request).
REMEMBER_SECONDS = 30.0


class RecentRequesters:
    """Yes answers only: a user the database did not vouch for is asked about again every time, so a new grant
    counts at once. Nothing is decided here that the database does not decide again before anything happens;
    the ack only promises a lookup.

    Why it exists: each call into the database driver releases the interpreter, and under a burst an ack's read
    spent most of its time winning it back from the work threads (see the README's Performance section). Plain
    dict operations need no lock: each is atomic in CPython, and a lost update only means one more database
    read."""

    def __init__(self, seconds: float = REMEMBER_SECONDS, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._vouched_at: dict[str, float] = {}

    def vouches_for(self, user_id: str) -> bool:
        vouched_at = self._vouched_at.get(user_id)
        return vouched_at is not None and self._clock() - vouched_at < self._seconds

    def remember(self, user_id: str) -> None:
        """The database just said this user holds the requester role (or a role that includes it)."""
        self._vouched_at[user_id] = self._clock()

    def forget(self, user_id: str) -> None:
        """A role of theirs was revoked here, or the database refused them."""
        self._vouched_at.pop(user_id, None)
