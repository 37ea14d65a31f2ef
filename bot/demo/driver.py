"""Sends signed slash commands and button clicks to the bot's HTTP endpoint, as Slack does."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

TEAM = {"id": "T0123ABCD", "domain": "acme"}


def new_trigger_id() -> str:
    """Like Slack's (digits.digits.hex); its first part is when it was issued, in ms, so the fake Slack can refuse
    it after 3 s as Slack does."""
    return f"{int(time.time() * 1000)}.{secrets.randbelow(10**13)}.{secrets.token_hex(16)}"


class SlackDriver:
    def __init__(self, *, endpoint: str, signing_secret: str, response_base: str | None = None) -> None:
        self.endpoint = endpoint
        self._secret = signing_secret
        self._response_base = response_base
        self._http = httpx.Client(timeout=30)

    def close(self) -> None:
        self._http.close()

    def signed_headers(
        self, body: str, *, timestamp: int | None = None, retry_num: int | None = None
    ) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signature = SignatureVerifier(self._secret).generate_signature(timestamp=ts, body=body) or ""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return headers

    def post(self, body: str, **kwargs: Any) -> httpx.Response:
        return self._http.post(self.endpoint, content=body.encode(), headers=self.signed_headers(body, **kwargs))

    def _response_url(self, user: str, channel: str) -> str:
        if self._response_base is None:
            return f"https://hooks.slack.com/commands/T0123ABCD/{secrets.randbelow(10**12)}/x"
        return f"{self._response_base}/respond/{channel}/{user}"

    def command_payload(
        self, text: str, *, user: str, channel: str = "C0456EFGH", trigger_id: str | None = None
    ) -> dict[str, str]:
        """The fields of a slash command: form-encoded over HTTP, a JSON object in a Socket Mode envelope."""
        return {
            "token": "verification_token_unused",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": "billing-ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/cancel-sub",
            "text": text,
            "api_app_id": "A0ABCDEF1",
            "is_enterprise_install": "false",
            "response_url": self._response_url(user, channel),
            "trigger_id": trigger_id or new_trigger_id(),
        }

    def command_body(self, text: str, *, user: str, channel: str = "C0456EFGH", trigger_id: str | None = None) -> str:
        return urlencode(self.command_payload(text, user=user, channel=channel, trigger_id=trigger_id))

    def command(self, text: str, *, user: str, channel: str = "C0456EFGH", **kwargs: Any) -> httpx.Response:
        return self.post(self.command_body(text, user=user, channel=channel), **kwargs)

    def click_body(self, action_id: str, value: str, **details: Any) -> str:
        """The form body of a click over HTTP; `details` as click_payload takes them."""
        return "payload=" + quote(json.dumps(self.click_payload(action_id, value, **details)))

    def click_payload(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str = "C0456EFGH",
        message_ts: str = "1.000100",
        from_home: bool = False,
    ) -> dict[str, Any]:
        """A block_actions payload: the `payload` form field over HTTP, the envelope's payload in Socket Mode."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
            "api_app_id": "A0ABCDEF1",
            "token": "verification_token_unused",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": new_trigger_id(),
            "team": TEAM,
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "billing-ops"},
            "message": {"type": "message", "ts": message_ts, "text": "card", "blocks": []},
            "state": {"values": {}},
            "response_url": self._response_url(user, channel),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "decision",
                    "text": {"type": "plain_text", "text": action_id, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if from_home:
            # Clicks in the App Home carry the view instead of a message, channel and response_url.
            for key in ("channel", "message", "response_url"):
                payload.pop(key)
            payload["container"] = {"type": "view", "view_id": "V0HOME0001"}
            payload["view"] = {"id": "V0HOME0001", "type": "home", "blocks": []}
        return payload

    def shortcut_payload(self, callback_id: str, *, user: str) -> dict[str, Any]:
        """A global shortcut, chosen from the shortcuts menu: no channel, no response_url."""
        return {
            "type": "shortcut",
            "token": "verification_token_unused",
            "action_ts": f"{time.time():.6f}",
            "team": TEAM,
            "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": new_trigger_id(),
        }

    def message_shortcut_payload(
        self,
        callback_id: str,
        *,
        user: str,
        message_text: str,
        message_ts: str = "1700000000.000200",
        channel: str = "C0456EFGH",
    ) -> dict[str, Any]:
        """A message shortcut, chosen from a message's menu: the message, its channel and a response_url."""
        return {
            **self.shortcut_payload(callback_id, user=user),
            "type": "message_action",
            "message_ts": message_ts,
            "response_url": self._response_url(user, channel),
            "channel": {"id": channel, "name": "billing-ops"},
            "message": {"type": "message", "user": "U0CUSTOMR", "ts": message_ts, "text": message_text},
        }

    def send_payload(self, payload: dict[str, Any]) -> httpx.Response:
        """Any interaction payload, form-encoded and signed as Slack sends it."""
        return self.post("payload=" + quote(json.dumps(payload)))

    @staticmethod
    def submission_payload(view: dict[str, Any], *, user: str, values: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """A view_submission of a modal the bot opened: `values` maps block id -> action id -> the typed text, or
        the element's whole state (a dict: a select's `selected_option`, a channel's `selected_conversation`)."""
        state = {
            block: {
                action: typed if isinstance(typed, dict) else {"type": "plain_text_input", "value": typed}
                for action, typed in fields.items()
            }
            for block, fields in values.items()
        }
        return {
            "type": "view_submission",
            "team": TEAM,
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
            "api_app_id": "A0ABCDEF1",
            "token": "verification_token_unused",
            "trigger_id": new_trigger_id(),
            "view": {**view, "state": {"values": state}, "hash": "156772938.1827394"},
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def submit(self, view: dict[str, Any], *, user: str, values: dict[str, dict[str, Any]]) -> httpx.Response:
        return self.send_payload(self.submission_payload(view, user=user, values=values))

    @staticmethod
    def home_opened_payload(user: str, *, event_id: str = "Ev0001") -> dict[str, Any]:
        """The Events API callback Slack sends when someone opens the App Home tab."""
        return {
            "type": "event_callback",
            "team_id": TEAM["id"],
            "api_app_id": "A0ABCDEF1",
            "event": {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"},
            "event_id": event_id,
            "event_time": int(time.time()),
        }

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str = "C0456EFGH",
        from_home: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        body = self.click_body(action_id, value, user=user, channel=channel, from_home=from_home)
        return self.post(body, **kwargs)
