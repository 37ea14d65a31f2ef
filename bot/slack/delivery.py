"""Delivery to Slack: request cards and their audit threads, kept in step with the database, and direct messages.

Slack may fail (429, 5xx, timeouts) after slack_sdk's retries; the database stays the record. What Slack still
owes is kept in bot.core.tracking (a dirty card, a thread's last shown event, an untold requester), and the periodic
sweep catches it up. Nothing here raises on Slack's account.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from slack_sdk import WebClient

from bot.core import tracking
from bot.core.context import Core
from bot.slack import blocks, text
from bot.slack.errors import CHANNEL_ERRORS, PERMANENT_ERRORS, SLACK_FAILURES, SLACK_OR_ANSWER_FAILURES, slack_error
from storage.models import AuditEvent, CancellationRequest, RoleGrant

log = logging.getLogger(__name__)

# How often a card update chases a status that keeps moving before leaving it to the next sync.
REFRESH_ROUNDS = 3


@dataclass(frozen=True)
class Posted:
    ts: str | None
    error: str | None = None

    @property
    def channel_error(self) -> bool:
        return self.error in CHANNEL_ERRORS


@dataclass
class _Waiting:
    """The latest step of a request handed to the Slack threads and not yet taken up by one."""

    current: CancellationRequest
    events: list[AuditEvent] | None  # None: the events of several steps, read again from the database
    newest: int  # the last audit event of the step `current` comes from: steps may be handed over out of order


# Queues `work(*args)` on the Slack threads; False, with nothing queued, when they are full.
HandOver = Callable[..., bool]


class Delivery:
    def __init__(self, core: Core, *, thread_lease: timedelta, dead_after: timedelta) -> None:
        self._core = core
        # A thread's lease lasts `thread_lease` (long enough to sleep through Slack's rate limits) unless the
        # process holding it is dead (silent for `dead_after`), when another takes over at once.
        self._thread_lease = thread_lease
        self._dead_after = dead_after
        # A user's DM channel with the bot never changes; remembering it saves a Web API call per DM.
        self._dm_channels: dict[str, str] = {}
        self._lock = threading.Lock()
        self._waiting: dict[str, _Waiting] = {}  # request id -> its step waiting for a Slack thread

    # -- request cards --------------------------------------------------------------------------------------

    def _render(self, request: CancellationRequest) -> tuple[str, list[dict[str, object]]]:
        provider = self._core.registry.get(request.provider)
        label = provider.label if provider else request.provider
        effect = provider.effect.describe() if provider else "see the provider's rules"
        return blocks.request_card(request, provider_label=label, effect=effect)

    def post_card(self, client: WebClient, request: CancellationRequest) -> Posted:
        message, card = self._render(request)
        try:
            response = client.chat_postMessage(channel=request.channel, text=message, blocks=card, unfurl_links=False)
        except SLACK_FAILURES as exc:
            error = slack_error(exc)
            log.warning("could not post the card of %s: %s", request.id, error)
            return Posted(None, error)
        return Posted(str(response["ts"]))

    def sync(
        self,
        client: WebClient,
        request_id: str,
        *,
        refresh: bool = True,
        current: CancellationRequest | None = None,
        events: list[AuditEvent] | None = None,
        thread_held: bool = False,
    ) -> bool:
        """Show the request's current state on its card, the audit events its thread lacks, and tell the
        requester by DM what changed; False when Slack failed somewhere (the failure is recorded for the
        catch-up). `current` is the request as a transition (or its creation) just left it, with an audit event
        its thread lacks; it saves reads (the card update reads again afterwards, so a change made meanwhile still
        shows), and `events` the audit events it added. `thread_held`: the caller holds the thread already, that
        of the card it just posted (asking.card_posted), and `events` are its first."""
        request = current or tracking.current(self._core, request_id)
        if request is None:
            return True
        tell = tracking.to_tell(request)
        claimed: bool | None = None  # whether the requester's DM is ours to send, once a write has asked
        shown = True
        if request.card_ts:
            if refresh or request.card_dirty:
                shown = self._refresh(client, request)
            # A copy from a transition comes with that transition's audit event: the thread surely lacks it.
            posted, claimed = self._thread(
                client, request, behind=current is not None, tell=tell, known=events or [], held=thread_held
            )
            shown = posted and shown
        if tell is not None:
            if claimed is None:
                claimed = tracking.claim_notification(self._core, request.id, status=tell)
            if claimed:
                shown = self._tell_requester(client, request) and shown
        return shown

    def sync_soon(
        self,
        hand_over: HandOver,
        client: WebClient,
        request: CancellationRequest,
        events: list[AuditEvent],
    ) -> bool:
        """Sync on a Slack thread a step a transition just made (`request` as it left it, `events` what it added).
        When a sync of the same request is still waiting for a thread, that one shows this step too: under load the
        card is updated once, to the latest state, rather than once per step with states already out of date, and
        the requester gets one DM. False when the threads are full (the sweep's catch-up shows the step)."""
        newest = max((event.sequence for event in events), default=0)
        with self._lock:
            waiting = self._waiting.get(request.id)
            if waiting is not None:
                waiting.events = None
                if newest >= waiting.newest:
                    waiting.current, waiting.newest = request, newest
                return True
            self._waiting[request.id] = _Waiting(request, events, newest)
        queued = False
        try:
            queued = hand_over(self._sync_waiting, client, request.id)
        finally:
            if not queued:
                with self._lock:  # nothing will take it up: a later step queues a sync of its own
                    self._waiting.pop(request.id, None)
        return queued

    def _sync_waiting(self, client: WebClient, request_id: str) -> bool:
        with self._lock:
            waiting = self._waiting.pop(request_id, None)
        if waiting is None:
            return True
        return self.sync(client, request_id, current=waiting.current, events=waiting.events)

    def _failed(self, client: WebClient, request: CancellationRequest, exc: Exception, *, what: str) -> None:
        """Record a failed Slack call: a permanent error ends the catch-up of this request (audited, and the admins
        hear once); anything else backs off before the sweep tries again."""
        error = slack_error(exc)
        log.warning("could not update the %s of %s: %s", what, request.id, error)
        if error not in PERMANENT_ERRORS:
            tracking.slack_failed(self._core, request)
        elif tracking.slack_gave_up(self._core, request.id, error=error, what=what):
            self.alert_admins(
                client, subject=request.id, kind="slack.gave_up", message=text.slack_gave_up(request, what, error)
            )

    def _refresh(self, client: WebClient, request: CancellationRequest) -> bool:
        """Render the row and update the card; if the status moved on meanwhile, render again. Updates from
        several threads may finish in any order, but the last one to finish always shows the current state."""
        for _ in range(REFRESH_ROUNDS):
            message, card = self._render(request)
            assert request.card_ts is not None, "only posted cards are refreshed"
            try:
                client.chat_update(channel=request.channel, ts=request.card_ts, text=message, blocks=card)
            except SLACK_FAILURES as exc:
                tracking.card_failed(self._core, request.id)
                self._failed(client, request, exc, what="card")
                return False
            if not tracking.moved_on(self._core, request):
                break
            now = tracking.current(self._core, request.id)
            if now is None:
                break
            request = now
        if request.card_dirty:
            tracking.card_shown(self._core, request.id, status=request.status)
        return True

    def _thread(
        self,
        client: WebClient,
        request: CancellationRequest,
        *,
        behind: bool,
        tell: str | None,
        known: list[AuditEvent],
        held: bool,
    ) -> tuple[bool, bool | None]:
        """Post the events the thread lacks. One worker at a time holds the thread, so lines appear once and
        in order; it keeps posting until nothing is left, so events added meanwhile are not stranded. Returns
        whether Slack took them all, and whether the requester's DM of `tell` was claimed by the write that
        recorded the thread (None when no such write was made), which saves a write of its own. `known`: events
        the caller just added (see tracking.take_thread); `held`: the thread is already this worker's, and
        `known` is all it lacks."""
        if held:
            taken: tuple[int, list[AuditEvent]] | None = (request.thread_sequence, known)
        else:
            taken = tracking.take_thread(
                self._core,
                request,
                lease=self._thread_lease,
                dead_after=self._dead_after,
                behind=behind,
                known=known,
            )
        if taken is None:
            return True, None
        shown, events = taken
        claimed: bool | None = None
        try:
            while True:
                # Each message is recorded as shown once it is posted, so a failure part-way loses no line and
                # repeats none; the last record also says what was added meanwhile, or gives the thread back.
                for message, upto in blocks.audit_thread_messages(events):
                    client.chat_postMessage(channel=request.channel, thread_ts=request.card_ts, text=message)
                    shown = upto
                    if upto < events[-1].sequence:  # more messages follow: record this one now
                        tracking.thread_progress(self._core, request.id, upto=shown)
                ask = tell if claimed is None else None
                events, got = tracking.thread_shown(self._core, request.id, upto=shown, tell=ask)
                if ask is not None:
                    claimed = got
                if not events:
                    return True, claimed
        except SLACK_FAILURES as exc:
            tracking.thread_failed(self._core, request.id, upto=shown)
            self._failed(client, request, exc, what="thread")
            return False, claimed

    # -- grant cards ----------------------------------------------------------------------------------------

    def show_grant(self, client: WebClient, grant: RoleGrant) -> None:
        if not grant.card_ts:
            return
        message, card = blocks.grant_card(grant)
        try:
            client.chat_update(channel=grant.channel, ts=grant.card_ts, text=message, blocks=card)
        except SLACK_FAILURES as exc:
            log.warning("could not update the role change card %s: %s", grant.id, slack_error(exc))

    # -- direct messages ------------------------------------------------------------------------------------

    def dm(self, client: WebClient, user: str, message: str) -> bool:
        return self._direct_message(client, user, message) is None

    def _direct_message(self, client: WebClient, user: str, message: str) -> str | None:
        """Send a DM; the Slack error when it could not be sent, else None."""
        try:
            with self._lock:
                channel = self._dm_channels.get(user)
            if channel is None:
                channel = str(client.conversations_open(users=user)["channel"]["id"])
                with self._lock:
                    self._dm_channels[user] = channel
            client.chat_postMessage(channel=channel, text=message)
        except SLACK_OR_ANSWER_FAILURES as exc:
            error = slack_error(exc)
            log.warning("could not DM %s: %s", user, error)
            with self._lock:
                self._dm_channels.pop(user, None)
            return error
        return None

    def _tell_requester(self, client: WebClient, request: CancellationRequest) -> bool:
        """DM the requester the status this caller claimed to tell. A DM that can never be delivered (the user is
        gone) keeps its claim, so it is not tried again and again."""
        error = self._direct_message(client, request.requester, text.requester_dm(request))
        if error is None:
            return True
        if error in PERMANENT_ERRORS:
            tracking.slack_gave_up_on_dm(self._core, request, error=error)
            return True
        tracking.release_notification(self._core, request)
        return False

    def alert_admins(self, client: WebClient, *, subject: str, kind: str, message: str) -> bool:
        """DM every admin, unless this subject and kind were already reported this hour."""
        admins = tracking.claim_alert(self._core, subject=subject, kind=kind)
        for admin in admins:
            self.dm(client, admin, message)
        return bool(admins)
