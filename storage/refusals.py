"""Refusals counted per user, kind and minute, so that someone hammering a refused action writes at most two audit
events a minute (the first refusal, and later a summary of the repeats) instead of one per attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from storage.database import table
from storage.models import RefusalTally

_tallies = table(RefusalTally)


def minute(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M")


def tally(db: Connection, *, subject: str, kind: str, window: str) -> int:
    """Count one more refusal of `subject` for `kind` in `window`; the count so far, this one included."""
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_tallies).values(subject=subject, kind=kind, window=window, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["subject", "kind", "window"], set_={"count": _tallies.c.count + 1}
    ).returning(_tallies.c.count)
    return int(db.execute(statement).scalar_one())


def closed(db: Connection, *, before: str) -> list[tuple[str, str, str, int]]:
    """The tallies of windows before `before` (subject, kind, window, count), for their summaries."""
    query = select(_tallies.c.subject, _tallies.c.kind, _tallies.c.window, _tallies.c.count).where(
        _tallies.c.window < before
    )
    rows = db.execute(query.order_by(_tallies.c.window)).all()
    return [(str(subject), str(kind), str(window), int(count)) for subject, kind, window, count in rows]


def forget(db: Connection, *, before: str) -> None:
    db.execute(delete(_tallies).where(_tallies.c.window < before))
