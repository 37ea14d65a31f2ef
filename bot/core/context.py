"""What every use case works with: the database, the providers, the rules, the clock, and this process's memory."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core import calls
from bot.core.calls import InThisThread, Runner
from bot.core.known_providers import KnownProviders
from bot.core.requesters import RecentRequesters
from providers.base import LookupResult, SubscriptionProvider
from providers.registry import Registry
from storage import audit
from storage.database import Database


@dataclass(frozen=True)
class Policy:
    request_ttl: timedelta = timedelta(minutes=1440)
    allow_self_approval: bool = False
    max_requests_per_day: int = 50
    max_approvals_per_hour: int = 30
    # The longest one provider call may take, retries included.
    provider_deadline: float = 30.0


def new_process_id() -> str:
    """This process among every bot process on every host: the owner of the cancels it waits on."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class Core:
    database: Database
    registry: Registry
    policy: Policy = field(default_factory=Policy)
    clock: Callable[[], datetime] = audit.utcnow
    requesters: RecentRequesters = field(default_factory=RecentRequesters)
    known_providers: KnownProviders = field(default_factory=KnownProviders)
    process_id: str = field(default_factory=new_process_id)
    calls: Runner = field(default_factory=InThisThread)

    def read(self, provider: SubscriptionProvider, subscription_id: str) -> LookupResult:
        """A provider's read, bounded by the policy's deadline."""
        return calls.lookup(self.calls, provider, subscription_id, deadline=self.policy.provider_deadline)
