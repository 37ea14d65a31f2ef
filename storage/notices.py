"""At most one notice per subject, kind and time window, across every process: the primary key decides."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from storage.database import table
from storage.models import Notice

_notices = table(Notice)


def hour_window(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H")


def claim(db: Connection, *, subject: str, kind: str, window: str, now: datetime) -> bool:
    """True for the one caller that may send this notice; False when it was already sent in this window."""
    key = (_notices.c.subject == subject, _notices.c.kind == kind, _notices.c.window == window)
    if db.execute(select(_notices.c.sent_at).where(*key)).first() is not None:
        return False
    try:
        with db.begin_nested():
            db.execute(insert(_notices).values(subject=subject, kind=kind, window=window, sent_at=now))
    except IntegrityError:
        return False  # another process claimed it a moment earlier
    return True
