"""The running bot's periodic sweep: expire overdue requests, settle ones a crash left behind, catch Slack up."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from bot.core import admin, tracking, upkeep
from bot.runtime.services import Services

log = logging.getLogger(__name__)


def sweep_once(services: Services) -> int:
    """One pass; returns how many requests changed state."""
    core, delivery, client = services.core, services.delivery, services.client
    upkeep.renew_leases(core)
    expired = upkeep.expire_due(core)
    recovered = upkeep.recover_stale(core, older_than=timedelta(seconds=services.settings.recover_after_seconds))
    for result in recovered:
        if result.request is not None:
            log.warning("settled %s after a restart: %s", result.request.id, result.request.status)
    changed = {r.request.id for r in (*expired, *recovered) if r.request is not None}
    for request_id in sorted(changed | set(tracking.needing_catch_up(core))):
        delivery.sync(client, request_id)
    for grant in admin.expire_grants(core):
        delivery.show_grant(client, grant)
    check_audit_if_due(services)
    return len(changed)


def check_audit_if_due(services: Services) -> bool:
    """A full walk of the chain every AUDIT_CHECK_MINUTES; the App Home shows admins the last result."""
    check = upkeep.check_audit_if_due(services.core, every=timedelta(minutes=services.settings.audit_check_minutes))
    if check.report is not None and not check.report.ok:
        log.error("audit chain broken: %s", check.report.describe())
    return check.ran


class Sweeper:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._interval = services.settings.sweep_interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                sweep_once(self._services)
            except Exception:  # the sweep must outlive a bad minute (database restart, Slack outage)
                log.exception("sweep failed; trying again in %.0f s", self._interval)
