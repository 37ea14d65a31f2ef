"""Handing a listener's slow part to a bulkhead after the ack, and what the person hears when it is full."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.core import reads
from bot.runtime.pool import Full, ListenerPool
from bot.runtime.services import Services
from bot.slack import text

log = logging.getLogger(__name__)


def hand_over(pool: ListenerPool, work: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Queue `work`; False, with nothing of it done, when the bulkhead's threads and queue are all taken."""
    try:
        pool.submit(work, *args, **kwargs)
    except Full as full:
        log.warning("bulkhead %s full: %d waiting; refused new work", full.pool, full.waiting)
        return False
    return True


def bulkhead_of(services: Services, request_id: str) -> tuple[ListenerPool, str | None]:
    """The bulkhead of the request's provider (a decision on it may wait on that provider, and on no other), and
    the provider's label for a "busy" answer; the general pool for a request that does not exist."""
    name = reads.provider_of(services.core, request_id)
    provider = services.registry.get(name) if name is not None else None
    if provider is None:
        return services.pool, None
    return services.provider_work.pool(provider.name), provider.label


def tell_busy(services: Services, tell: Callable[[str], object], provider_label: str | None) -> None:
    """Say so privately, on the Slack threads (a click's ack carries no text)."""
    hand_over(services.slack_pool, tell, text.busy(provider_label))
