"""Direct messages: the requester hears of each change to their request once; admins hear of refused attempts
at most once per user, kind and hour. Both "once" rules are decided in the database, so they hold across replicas.
"""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot import messages
from storage import audit, notices, requests, roles
from storage.database import Database
from storage.models import CancellationRequest, RequestStatus, Role

log = logging.getLogger(__name__)
S = RequestStatus

# A requester's own withdrawal needs no DM; everything else that happens to their request does.
TOLD = frozenset({S.EXECUTING, S.CANCELLED, S.ALREADY_CANCELLED, S.FAILED, S.UNKNOWN, S.REJECTED, S.EXPIRED})


class Notifier:
    def __init__(self, database: Database) -> None:
        self._database = database
        # A user's DM channel with the bot never changes; remembering it saves a Web API call per DM.
        self._dm_channels: dict[str, str] = {}
        self._lock = threading.Lock()

    def dm(self, client: WebClient, user: str, text: str) -> bool:
        try:
            with self._lock:
                channel = self._dm_channels.get(user)
            if channel is None:
                channel = str(client.conversations_open(users=user)["channel"]["id"])
                with self._lock:
                    self._dm_channels[user] = channel
            client.chat_postMessage(channel=channel, text=text)
        except (SlackClientError, OSError, KeyError, TypeError) as exc:
            log.warning("could not DM %s: %s", user, type(exc).__name__)
            with self._lock:
                self._dm_channels.pop(user, None)
            return False
        return True

    def tell_requester(self, client: WebClient, request: CancellationRequest) -> None:
        status = S(request.status)
        if status not in TOLD or request.notified_status == status.value:
            return
        with self._database.plain(write=True) as db:
            if not requests.claim_notification(db, request.id, status=status.value):
                return
        text = f"Your request `{request.id}` to cancel `{request.subscription_id}`: {messages.status_line(request)}"
        if not self.dm(client, request.requester, text):
            with self._database.plain(write=True) as db:  # give it back: the sweep tries again
                requests.release_notification(db, request.id, status=status.value)

    def alert_admins(self, client: WebClient, *, subject: str, kind: str, text: str) -> bool:
        """DM every admin, unless this subject and kind were already reported this hour."""
        now = audit.utcnow()
        with self._database.session() as session:
            if not notices.claim(session, subject=subject, kind=kind, window=notices.hour_window(now), now=now):
                return False
            admins = roles.holders(session, Role.ADMIN)
        for admin in admins:
            self.dm(client, admin, text)
        return True
