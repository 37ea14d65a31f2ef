"""A fake Slack Web API on 127.0.0.1: records every call, keeps channels' messages, injects failures."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from bot.demo.quiet_server import QuietHTTPServer

BOT_ID = "BBOT"
HISTORY_LIMIT = 1000  # conversations.history answers at most this many messages a page
TRIGGER_LIFE_MS = 3000  # a trigger_id opens a modal only within 3 s of the interaction


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str | None = None  # set for ephemeral messages: who sees it
    updates: int = 0
    metadata: dict[str, Any] | None = None
    bot_id: str | None = BOT_ID  # who posted it: the bot, unless a test says otherwise


@dataclass
class Failure:
    method: str
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    times: int = 1
    after: int = 0  # calls of the method that succeed before this failure starts


class FakeSlack:
    """`base_url` goes into SLACK_API_URL; `response_url(user)` makes a response_url that lands here."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: list[Message] = []
        self._posted: dict[tuple[str, str], Message] = {}  # (channel, ts) -> message, for chat.update
        self.unreachable_channels: set[str] = set()
        self.views: dict[str, dict[str, Any]] = {}  # user -> the App Home view last published
        self.modals: list[dict[str, Any]] = []  # views.open: each modal opened, with its trigger_id and id
        self._used_triggers: set[str] = set()
        self.files: list[dict[str, Any]] = []  # uploads completed: channel, filename, content
        self._uploads: dict[str, dict[str, Any]] = {}
        self._failures: list[Failure] = []
        self.socket_mode_url: Callable[[], str] | None = None  # what apps.connections.open hands out
        self._lock = threading.Lock()
        self._ts = 1_700_000_000_000_000
        self._server = QuietHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True)

    def __enter__(self) -> FakeSlack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def response_url(self, user: str, channel: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/respond/{channel}/{user}"

    def fail(self, method: str, **kwargs: Any) -> None:
        """Make the next call(s) of `method` fail: an HTTP status, a Slack error, a delay."""
        with self._lock:
            self._failures.append(Failure(method, **kwargs))

    def heal(self) -> None:
        """Slack answers normally again."""
        with self._lock:
            self._failures.clear()

    # -- reading what happened -----------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def channel_messages(self, channel: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.channel == channel and m.thread_ts is None and m.user is None]

    def thread(self, channel: str, ts: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.channel == channel and m.thread_ts == ts]

    def ephemerals(self, user: str | None = None) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.user is not None and (user is None or m.user == user)]

    def dms(self, user: str) -> list[Message]:
        """Messages the bot sent in its direct conversation with `user`."""
        with self._lock:
            return [m for m in self.messages if m.channel == f"D{user}"]

    def card(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)

    # -- serving -------------------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts += 100
        return f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"

    def _take_failure(self, method: str) -> Failure | None:
        for failure in self._failures:
            if failure.method == method:
                if failure.after > 0:
                    failure.after -= 1
                    return None
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _api(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.calls.append(Call(method, args))
            failure = self._take_failure(method)
        if failure is not None:
            if failure.delay:
                time.sleep(failure.delay)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            if failure.status != 200:
                return failure.status, {"ok": False, "error": failure.error or "fake_failure"}, headers
            if failure.error:
                return 200, {"ok": False, "error": failure.error}, headers
        with self._lock:
            return self._answer(method, args)

    def _answer(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = str(args.get("channel", ""))
        if method == "auth.test":
            return 200, {"ok": True, "user_id": "UBOT", "bot_id": BOT_ID, "team_id": "T0FAKE"}, {}
        if method == "chat.postMessage":
            if channel in self.unreachable_channels:
                return 200, {"ok": False, "error": "not_in_channel"}, {}
            message = Message(
                channel,
                self._next_ts(),
                str(args.get("text", "")),
                _blocks(args),
                thread_ts=args.get("thread_ts"),
                metadata=_json_field(args.get("metadata")),
            )
            self.messages.append(message)
            self._posted[(channel, message.ts)] = message
            return 200, {"ok": True, "channel": channel, "ts": message.ts}, {}
        if method == "chat.update":
            found = self._posted.get((channel, str(args.get("ts"))))
            if found is None:
                return 200, {"ok": False, "error": "message_not_found"}, {}
            found.text, found.blocks, found.updates = str(args.get("text", "")), _blocks(args), found.updates + 1
            return 200, {"ok": True, "channel": channel, "ts": found.ts}, {}
        if method == "apps.connections.open":
            if self.socket_mode_url is None:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.socket_mode_url()}, {}
        if method == "conversations.history":
            return self._history(channel, args)
        if method == "conversations.open":
            user = str(args.get("users", "")).split(",")[0]
            return 200, {"ok": True, "channel": {"id": f"D{user}"}}, {}
        if method == "chat.getPermalink":  # any message: people's messages are not kept here, yet exist
            if channel in self.unreachable_channels:
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            ts = str(args.get("message_ts") or "")
            link = f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"
            return 200, {"ok": True, "channel": channel, "permalink": link}, {}
        if method == "views.open":
            # Slack takes a trigger once, within 3 s of the interaction that made it.
            trigger = str(args.get("trigger_id") or "")
            if not trigger:
                return 200, {"ok": False, "error": "invalid_trigger_id"}, {}
            if trigger in self._used_triggers or _issued_ms(trigger) < time.time() * 1000 - TRIGGER_LIFE_MS:
                return 200, {"ok": False, "error": "expired_trigger_id"}, {}
            self._used_triggers.add(trigger)
            opened = {
                **(_json_field(args.get("view")) or {}),
                "id": f"V{len(self.modals) + 1:08d}",
                "trigger_id": trigger,
            }
            self.modals.append(opened)
            return 200, {"ok": True, "view": opened}, {}
        if method == "views.update":
            modal = next((m for m in self.modals if m["id"] == args.get("view_id")), None)
            if modal is None:
                return 200, {"ok": False, "error": "not_found"}, {}
            modal.clear()
            modal.update({**(_json_field(args.get("view")) or {}), "id": args.get("view_id")})
            return 200, {"ok": True, "view": modal}, {}
        if method == "views.publish":
            self.views[str(args.get("user_id"))] = _json_field(args.get("view")) or {}
            return 200, {"ok": True}, {}
        if method == "files.getUploadURLExternal":
            file_id = f"F{len(self._uploads) + 1:08d}"
            self._uploads[file_id] = {"filename": args.get("filename"), "content": b""}
            port = self._server.server_address[1]
            return 200, {"ok": True, "file_id": file_id, "upload_url": f"http://127.0.0.1:{port}/upload/{file_id}"}, {}
        if method == "files.completeUploadExternal":
            files = args.get("files")
            listed = json.loads(files) if isinstance(files, str) else list(files or [])
            for entry in listed:
                upload = self._uploads.get(entry["id"], {})
                self.files.append(
                    {
                        "channel": args.get("channel_id") or args.get("channels"),
                        "filename": upload.get("filename"),
                        "content": upload.get("content", b""),
                        "comment": args.get("initial_comment"),
                    }
                )
            return 200, {"ok": True, "files": [{"id": e["id"]} for e in listed]}, {}
        if method == "chat.postEphemeral":
            self.messages.append(
                Message(channel, self._next_ts(), str(args.get("text", "")), _blocks(args), user=str(args.get("user")))
            )
            return 200, {"ok": True, "message_ts": self._next_ts()}, {}
        return 200, {"ok": True}, {}

    def _history(self, channel: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Newest first, paged by an opaque cursor; metadata only when asked for, as Slack does."""
        if channel in self.unreachable_channels:
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        listed = [m for m in self.messages if m.channel == channel and m.thread_ts is None and m.user is None]
        listed.reverse()
        offset = int(str(args.get("cursor") or "0").removeprefix("offset:") or 0)
        limit = min(int(args.get("limit") or 100), HISTORY_LIMIT)
        page, more = listed[offset : offset + limit], offset + limit < len(listed)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        messages = [
            {
                "type": "message",
                "ts": m.ts,
                "text": m.text,
                **({"bot_id": m.bot_id} if m.bot_id else {"user": "U0SOMEONE"}),
                **({"metadata": m.metadata} if with_metadata and m.metadata else {}),
            }
            for m in page
        ]
        cursor = f"offset:{offset + limit}" if more else ""
        return (
            200,
            {"ok": True, "messages": messages, "has_more": more, "response_metadata": {"next_cursor": cursor}},
            {},
        )

    def _respond(self, channel: str, user: str, args: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(Call("response_url", {**args, "channel": channel, "user": user}))
            self.messages.append(Message(channel, self._next_ts(), str(args.get("text", "")), _blocks(args), user=user))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes; with Nagle's algorithm the second waits for the client's
            # delayed ACK of the first (about 40 ms on a kept-alive connection), a delay no real server adds.
            disable_nagle_algorithm = True

            def log_message(self, *_: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                content = self.rfile.read(length)
                if self.path.startswith("/upload/"):
                    with fake._lock:
                        fake._uploads.setdefault(self.path.removeprefix("/upload/"), {})["content"] = content
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"OK")
                    return
                raw = content.decode("utf-8")
                args = _parse_body(raw, self.headers.get("Content-Type", ""))
                if self.path.startswith("/api/"):
                    status, body, headers = fake._api(self.path.removeprefix("/api/"), args)
                elif self.path.startswith("/respond/"):
                    _, _, channel, user = self.path.split("/", 3)
                    fake._respond(channel, user, args)
                    status, body, headers = 200, {"ok": True}, {}
                else:
                    status, body, headers = 404, {"ok": False, "error": "unknown_path"}, {}
                self._reply(status, body, headers)

            def do_GET(self) -> None:  # the Web API's read methods (conversations.history) come as GET
                path, _, query = self.path.partition("?")
                args = {k: v[0] for k, v in parse_qs(query).items()}
                if path.startswith("/api/"):
                    self._reply(*fake._api(path.removeprefix("/api/"), args))
                else:
                    self._reply(404, {"ok": False, "error": "unknown_path"}, {})

            def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _parse_body(raw: str, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        return json.loads(raw or "{}")
    return {k: v[0] for k, v in parse_qs(raw).items()}


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
    value = args.get("blocks")
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value or [])


def _json_field(value: Any) -> dict[str, Any] | None:
    """A JSON object argument, whether the client sent it as a JSON body field or as form-encoded text."""
    if isinstance(value, str):
        return dict(json.loads(value)) if value else None
    return dict(value) if value else None


def _issued_ms(trigger: str) -> float:
    """When the driver issued a trigger (its first part); a trigger of another shape counts as just issued."""
    first = trigger.split(".", 1)[0]
    return float(first) if first.isdigit() and len(first) == 13 else time.time() * 1000
