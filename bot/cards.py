"""Posting and updating request cards and their audit threads in Slack; failures are logged, never raised."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import blocks
from providers.base import SubscriptionSnapshot
from providers.registry import Registry
from storage.models import AuditEvent, CancellationRequest

log = logging.getLogger(__name__)

# The bot cannot post where it was not invited; these are the user's to fix, not ours to retry.
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})


@dataclass(frozen=True)
class Posted:
    ts: str | None
    error: str | None = None

    @property
    def channel_problem(self) -> bool:
        return self.error in CHANNEL_ERRORS


class Cards:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

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
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            log.warning("could not post the card of %s: %s", request.id, error)
            return Posted(None, error)
        except SlackClientError as exc:
            log.warning("could not post the card of %s: %s", request.id, type(exc).__name__)
            return Posted(None, "slack_unreachable")
        return Posted(str(response["ts"]))

    def refresh(self, client: WebClient, request: CancellationRequest) -> bool:
        """Show the request's current state. Rendering is a pure function of the row, so any later
        successful update also repairs an earlier one that failed."""
        if not request.card_ts:
            return False
        text, card = self._render(request)
        try:
            client.chat_update(channel=request.channel, ts=request.card_ts, text=text, blocks=card)
        except (SlackApiError, SlackClientError) as exc:
            log.warning("could not update the card of %s: %s", request.id, _slack_error(exc))
            return False
        return True

    def thread(self, client: WebClient, request: CancellationRequest, events: list[AuditEvent]) -> bool:
        """The audit trail, as people read it, under the card."""
        if not request.card_ts or not events:
            return False
        try:
            client.chat_postMessage(
                channel=request.channel, thread_ts=request.card_ts, text=blocks.audit_thread_text(events)
            )
        except (SlackApiError, SlackClientError) as exc:
            log.warning("could not post to the thread of %s: %s", request.id, _slack_error(exc))
            return False
        return True


def _slack_error(exc: SlackClientError) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown_error"))
    return type(exc).__name__
