"""The periodic sweep of the running bot: pending requests past their expiry become expired, cards say so."""

from __future__ import annotations

import logging
import threading

from bot.services import Services

log = logging.getLogger(__name__)


def sweep_once(services: Services) -> int:
    expired = services.workflow.expire_due()
    for result in expired:
        if result.request is not None:
            services.cards.refresh(services.client, result.request)
            services.cards.thread(services.client, result.request, result.events)
    return len(expired)


class Sweeper:
    def __init__(self, services: Services, *, interval_seconds: float = 60.0) -> None:
        self._services = services
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                count = sweep_once(self._services)
                if count:
                    log.info("expired %d pending requests", count)
            except Exception:  # the sweep must outlive a bad minute (database restart, Slack outage)
                log.exception("expiry sweep failed; trying again in %.0f s", self._interval)
