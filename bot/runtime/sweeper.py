"""The running bot's background work: a heartbeat, settling the cancels of dead processes, and the periodic sweep
(expire overdue requests, catch Slack up, check the audit chain). Each on a thread of its own, so a sweep stalled
on Slack can neither stop the heartbeat nor delay a recovery."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from bot.core import admin, tracking, upkeep
from bot.core import follow_up as follow_ups
from bot.core.results import Result
from bot.runtime.periodic import Periodic
from bot.runtime.services import Services
from bot.slack import anchors, text

log = logging.getLogger(__name__)

# A sweep spends at most this long catching Slack up (or half its interval, when that is shorter).
CATCH_UP_SECONDS = 20.0
# Rows of processes silent for this long are only history.
FORGET_PROCESSES_AFTER = timedelta(days=1)


def sweep_once(services: Services) -> int:
    """One pass; returns how many requests changed state."""
    core, delivery, client = services.core, services.delivery, services.client
    recovered = recover_orphans(services)  # each shown in Slack as it is settled
    expired = upkeep.expire_due(core)
    for result in expired:
        if result.request is not None:
            delivery.sync(client, result.request.id)
    catch_up_slack(services, budget=min(CATCH_UP_SECONDS, services.settings.sweep_interval_seconds / 2))
    for grant in admin.expire_grants(core):
        delivery.show_grant(client, grant)
    upkeep.forget_dead_processes(core, silent_for=FORGET_PROCESSES_AFTER)
    upkeep.summarize_refusals(core)
    follow_up(services)
    check_audit_if_due(services)
    return len(expired) + len(recovered)


def recover_orphans(services: Services) -> list[Result]:
    """Settle the cancels of processes that died mid-cancel, and show each in Slack."""
    dead_after = timedelta(seconds=services.settings.recover_after_seconds)
    recovered = upkeep.recover_orphans(services.core, dead_after=dead_after)
    for result in recovered:
        if result.request is not None:
            log.warning("settled %s left by a process that died: %s", result.request.id, result.request.status)
            services.delivery.sync(services.client, result.request.id)
    return recovered


def start_background(services: Services) -> list[Periodic]:
    """The heartbeat (this process is alive), recovery (others that are not), and the sweep, each on its own."""
    settings = services.settings
    return [
        Periodic("heartbeat", settings.heartbeat_seconds, lambda: upkeep.beat(services.core)).start(),
        Periodic("recovery", settings.heartbeat_seconds, lambda: recover_orphans(services)).start(),
        Periodic("sweeper", settings.sweep_interval_seconds, lambda: sweep_once(services)).start(),
    ]


def catch_up_slack(services: Services, *, budget: float) -> int:
    """Show Slack what it still owes, oldest first, for at most `budget` seconds; returns how many were caught up.
    What is left waits for the next sweep, so many stuck requests cannot starve the others for ever."""
    deadline = time.monotonic() + budget
    caught_up = 0
    for request in tracking.needing_catch_up(services.core):
        if time.monotonic() >= deadline:
            break
        if services.delivery.sync(services.client, request.id):
            tracking.slack_recovered(services.core, request)
            caught_up += 1
    return caught_up


def follow_up(services: Services) -> follow_ups.FollowUps:
    """Remind the approvers of requests waiting REMIND_AFTER_MINUTES (a line in the card's thread that mentions
    them), and DM the admins about those waiting ESCALATE_AFTER_MINUTES; each once per request."""
    settings, client = services.settings, services.client
    done = follow_ups.follow_up(
        services.core,
        remind_after=timedelta(minutes=settings.remind_after_minutes) if settings.remind_after_minutes else None,
        escalate_after=timedelta(minutes=settings.escalate_after_minutes) if settings.escalate_after_minutes else None,
        approvers_group=settings.approvers_group,
    )
    for request in [*done.reminded, *done.escalated]:
        services.delivery.sync(client, request.id)  # the thread line; the sweep catches it up if Slack fails
    for request in done.escalated:
        message = text.escalation(request, waited=services.core.clock() - request.created_at)
        for admin_id in done.admins:
            services.delivery.dm(client, admin_id, message)
    return done


def check_audit_if_due(services: Services) -> bool:
    """Walk the new part of the chain every AUDIT_CHECK_MINUTES. A longer whole chain has its tip posted to
    AUDIT_CHANNEL (an anchor outside the database); a break is posted there and sent to the admins."""
    check = upkeep.check_audit_if_due(services.core, every=timedelta(minutes=services.settings.audit_check_minutes))
    report, channel = check.report, services.settings.audit_channel
    if report is None:
        return check.ran
    if not report.ok:
        log.error("audit chain broken: %s", report.describe())
        message = text.audit_break(report.describe())
        services.delivery.alert_admins(services.client, subject="audit", kind="chain.broken", message=message)
        if channel:
            anchors.post_break(services.client, channel, report.describe())
    elif check.advanced and channel and report.tip is not None:
        anchors.post_tip(services.client, channel, report.tip, events=report.events)
    return check.ran
