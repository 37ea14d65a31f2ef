"""What every use case works with: the database, the providers, the rules, the clock, and this process's memory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.requesters import RecentRequesters
from providers.registry import Registry
from storage import audit
from storage.database import Database


@dataclass(frozen=True)
class Policy:
    request_ttl: timedelta = timedelta(minutes=1440)
    allow_self_approval: bool = False
    max_requests_per_day: int = 50
    max_approvals_per_hour: int = 30


class InFlight:
    """The cancels this process is waiting on, only so that their leases can be renewed; who wins a request is
    decided in the database, never here."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, request_id: str) -> None:
        with self._lock:
            self._ids.add(request_id)

    def discard(self, request_id: str) -> None:
        with self._lock:
            self._ids.discard(request_id)

    def snapshot(self) -> list[str]:
        with self._lock:
            return sorted(self._ids)


@dataclass
class Core:
    database: Database
    registry: Registry
    policy: Policy = field(default_factory=Policy)
    clock: Callable[[], datetime] = audit.utcnow
    requesters: RecentRequesters = field(default_factory=RecentRequesters)
    in_flight: InFlight = field(default_factory=InFlight)
