"""A fake OneKey subscriptions API on 127.0.0.1 for tests and benchmarks; its state outlives a killed bot."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from bot.demo.quiet_server import QuietHTTPServer

PATH = re.compile(r"^/v3/subscriptions/(\d+)$")


@dataclass
class DeleteBehaviour:
    """How the next DELETEs behave: apply the cancel before or after waiting, or never apply it."""

    delay: float = 0.0
    apply: str = "before"  # before | after | never


class FakeOneKey:
    def __init__(self, active_ids: list[int]) -> None:
        self.status = {i: "ACTIVE" for i in active_ids}
        self.deletes: list[int] = []
        self.delete_behaviour = DeleteBehaviour()
        self.delete_seen = threading.Event()
        self._lock = threading.Lock()
        self._server = QuietHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, name="fake-onekey", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, method: str, sub_id: int) -> tuple[int, dict[str, Any]]:
        with self._lock:
            known = sub_id in self.status
            if method == "GET":
                if not known:
                    return 420, {
                        "code": 420,
                        "description": "Subscription does not exist.",
                        "type": "SUBSCRIPTION_NOT_FOUND",
                    }
                return 200, {
                    "id": sub_id,
                    "status": self.status[sub_id],
                    "amount": 10.90,
                    "subscription_plan": "MONTHLY",
                }
            self.deletes.append(sub_id)
            behaviour = self.delete_behaviour
            if known and self.status[sub_id] == "CANCELLED":
                return 421, {
                    "code": 421,
                    "description": "Subscription was already cancelled.",
                    "type": "SUBSCRIPTION_ALREADY_CANCELLED",
                }
            if behaviour.apply == "before" and known:
                self.status[sub_id] = "CANCELLED"
        self.delete_seen.set()
        time.sleep(behaviour.delay)
        with self._lock:
            if behaviour.apply == "after" and known:
                self.status[sub_id] = "CANCELLED"
        if behaviour.apply == "never":
            return 501, {"code": 501, "description": "Generic Error", "type": "GENERIC_ERROR"}
        return 200, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes; with Nagle's algorithm the second waits for the client's
            # delayed ACK of the first (about 40 ms on a kept-alive connection), a delay no real server adds.
            disable_nagle_algorithm = True

            def log_message(self, *_: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                match = PATH.match(self.path)
                if match is None or not self.headers.get("Authorization", "").startswith("OKP "):
                    status, body = (
                        401,
                        {"code": 401, "description": "Invalid credentials", "type": "INVALID_CREDENTIALS"},
                    )
                else:
                    status, body = fake._answer(self.command, int(match.group(1)))
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the bot was killed while we were answering

            do_GET = _serve
            do_DELETE = _serve

        return Handler
