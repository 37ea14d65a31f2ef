"""The running bot's periodic sweep: expire overdue requests, settle ones a crash left behind, catch Slack up."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from bot.actions import show_grant
from bot.notify import TOLD
from bot.services import Services
from storage import audit, requests

log = logging.getLogger(__name__)


def sweep_once(services: Services) -> int:
    """One pass; returns how many requests changed state."""
    workflow, cards, client = services.workflow, services.cards, services.client
    workflow.renew_leases()
    expired = workflow.expire_due()
    recovered = workflow.recover_stale(older_than=timedelta(seconds=services.settings.recover_after_seconds))
    for result in recovered:
        log.warning(
            "settled %s after a restart: %s",
            result.request.id if result.request else "?",
            result.request.status if result.request else "?",
        )
    with services.database.session() as session:
        behind = [r.id for r in requests.needing_slack_catch_up(session, told=TOLD)]
    changed = {r.request.id for r in (*expired, *recovered) if r.request is not None}
    for request_id in sorted(changed | set(behind)):
        cards.sync(client, request_id)
    for grant in services.admin.expire_due():
        show_grant(client, grant)
    check_audit_if_due(services)
    return len(changed)


def check_audit_if_due(services: Services) -> bool:
    """A full walk of the chain every AUDIT_CHECK_MINUTES; the App Home shows admins the last result."""
    now = audit.utcnow()
    with services.database.reader() as session:
        last = audit.latest_check(session)
    if last is not None and now - last.checked_at < timedelta(minutes=services.settings.audit_check_minutes):
        return False
    with services.database.reader() as session:
        report = audit.verify(session)
    with services.database.session() as session:
        audit.record_check(session, report)
    if not report.ok:
        log.error("audit chain broken: %s", report.describe())
    return True


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
