"""Request cards and their audit threads in Slack: post once, then keep them in step with the database.

Slack may fail (429, 5xx, timeouts) after slack_sdk's retries; the database stays the record. A card that could
not be updated is marked dirty and a thread line not yet shown stays unclaimed, so the periodic sweep catches
both up when Slack answers again. Nothing here raises on Slack's account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import blocks
from bot.notify import Notifier
from providers.base import SubscriptionSnapshot
from providers.registry import Registry
from storage import audit, requests
from storage.database import Database
from storage.models import CancellationRequest

log = logging.getLogger(__name__)

# How often a card update chases a status that keeps moving before leaving it to the next sync.
REFRESH_ROUNDS = 3

# The bot cannot post where it was not invited; these are the user's to fix, not ours to retry.
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})


@dataclass(frozen=True)
class Posted:
    ts: str | None
    error: str | None = None


class Cards:
    def __init__(self, registry: Registry, database: Database, notifier: Notifier, *, thread_lease: timedelta) -> None:
        self._registry = registry
        self._database = database
        self._notifier = notifier
        # A worker that died while posting to a thread leaves its lease; after this long another takes over
        # (the same span after which a crashed process's cancels are settled).
        self._thread_lease = thread_lease

    def _render(self, request: CancellationRequest) -> tuple[str, list[dict[str, object]]]:
        provider = self._registry.get(request.provider)
        label = provider.label if provider else request.provider
        effect = provider.effect.describe() if provider else "see the provider's rules"
        return blocks.request_card(
            request, provider_label=label, effect=effect, snapshot=SubscriptionSnapshot.from_json(request.snapshot)
        )

    def post(self, client: WebClient, request: CancellationRequest) -> Posted:
        text, card = self._render(request)
        try:
            response = client.chat_postMessage(channel=request.channel, text=text, blocks=card, unfurl_links=False)
        except (SlackClientError, OSError) as exc:
            error = _slack_error(exc)
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
    ) -> None:
        """Show the request's current state on its card, the audit events its thread lacks, and tell the
        requester by DM what changed. `current` is the request as a transition just left it, which saves a read
        (the card update reads again afterwards, so a change made meanwhile still shows)."""
        request = current
        if request is None:
            with self._database.plain() as db:
                request = requests.find(db, request_id)
        if request is None:
            return
        if request.card_ts:
            if refresh or request.card_dirty:
                self._refresh(client, request)
            self._thread(client, request)
        self._notifier.tell_requester(client, request)

    def _refresh(self, client: WebClient, request: CancellationRequest) -> None:
        """Render the row and update the card; if the status moved on meanwhile, render again. Updates from
        several threads may finish in any order, but the last one to finish always shows the current state."""
        for _ in range(REFRESH_ROUNDS):
            text, card = self._render(request)
            assert request.card_ts is not None, "only posted cards are refreshed"
            try:
                client.chat_update(channel=request.channel, ts=request.card_ts, text=text, blocks=card)
            except (SlackClientError, OSError) as exc:
                log.warning("could not update the card of %s: %s", request.id, _slack_error(exc))
                with self._database.plain(write=True) as db:
                    requests.mark_card_dirty(db, request.id)
                return
            with self._database.plain() as db:
                now = requests.find(db, request.id)
            if now is None or (now.status == request.status and now.outcome == request.outcome):
                break
            request = now
        if request.card_dirty:
            with self._database.plain(write=True) as db:
                requests.mark_card_clean(db, request.id, shown_status=request.status)

    def _thread(self, client: WebClient, request: CancellationRequest) -> None:
        """Post the events the thread lacks. One worker at a time holds the thread, so lines appear once and
        in order; it keeps posting until nothing is left, so events added meanwhile are not stranded."""
        with self._database.plain() as db:
            if requests.last_event_sequence(db, request.id) <= request.thread_sequence:
                return  # nothing to post: no lease, no write
        now = audit.utcnow()
        with self._database.plain(write=True) as db:
            if not requests.lock_thread(db, request.id, now=now, stale_before=now - self._thread_lease):
                return  # another worker is posting; it will post these events too
            shown = requests.thread_sequence(db, request.id)
            events = audit.events_for_request(db, request.id, after=shown)
        try:
            while True:
                if events:
                    client.chat_postMessage(
                        channel=request.channel, thread_ts=request.card_ts, text=blocks.audit_thread_text(events)
                    )
                    shown = events[-1].sequence
                with self._database.plain(write=True) as db:
                    # Record what was shown and let go, unless more events arrived meanwhile: deciding that in
                    # the same write means an event committed by another worker is never left unposted.
                    events = audit.events_for_request(db, request.id, after=shown)
                    requests.thread_posted(db, request.id, upto=shown, release=not events)
                if not events:
                    return
        except (SlackClientError, OSError) as exc:
            log.warning("could not post to the thread of %s: %s", request.id, _slack_error(exc))
            with self._database.plain(write=True) as db:
                requests.thread_posted(db, request.id, upto=shown, release=True)  # the sweep catches up


def _slack_error(exc: Exception) -> str:
    """Slack's error code, or the kind of transport failure (a timeout arrives as a plain OSError)."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown_error"))
    return "slack_unreachable" if isinstance(exc, OSError) else type(exc).__name__
