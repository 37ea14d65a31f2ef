"""Bot processes and their heartbeats: a process not heard from for long enough is dead, and its in-flight cancels
are no longer anyone's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BindParameter, Connection, Select, bindparam, delete, insert, select, update

from storage.database import table
from storage.models import BotProcess

_processes = table(BotProcess)
_BEAT = update(_processes).where(_processes.c.id == bindparam("process_id")).values(seen_at=bindparam("now"))


def register(db: Connection, *, process_id: str, host: str, pid: int, now: datetime) -> None:
    db.execute(insert(_processes).values(id=process_id, host=host, pid=pid, started_at=now, seen_at=now))


def beat(db: Connection, *, process_id: str, now: datetime) -> bool:
    """This process is alive now; False when its row is gone (pruned while it was stalled: register again)."""
    return db.execute(_BEAT, {"process_id": process_id, "now": now}).rowcount == 1


def leave(db: Connection, process_id: str) -> None:
    """A process stopping cleanly: whatever it still held is no longer anyone's."""
    db.execute(delete(_processes).where(_processes.c.id == process_id))


def alive_since(since: datetime | BindParameter[datetime]) -> Select[tuple[str]]:
    """The ids of processes heard from at or after `since`, as a subquery for other statements."""
    return select(_processes.c.id).where(_processes.c.seen_at >= since)


def prune(db: Connection, *, silent_since: datetime) -> int:
    """Forget processes not heard from since `silent_since` (long dead)."""
    return int(db.execute(delete(_processes).where(_processes.c.seen_at < silent_since)).rowcount)
