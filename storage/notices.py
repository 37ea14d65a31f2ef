"""At most one notice per subject, kind and time window, across every process: the primary key decides."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.models import Notice


def hour_window(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H")


def claim(session: Session, *, subject: str, kind: str, window: str, now: datetime) -> bool:
    """True for the one caller that may send this notice; False when it was already sent in this window."""
    if session.get(Notice, (subject, kind, window)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Notice(subject=subject, kind=kind, window=window, sent_at=now))
            session.flush()
    except IntegrityError:
        return False  # another process claimed it a moment earlier
    return True
