"""HTTP mode: Slack's requests at POST /slack/events, GET /healthz, served by waitress (threaded WSGI)."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot import guards
from storage.database import Database

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1024 * 1024
StartResponse = Callable[..., Any]


def make_wsgi_app(app: App, database: Database) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == EVENTS_PATH and method == "POST":
            # Bolt parses the body before any middleware runs and fails on shapes Slack never sends.
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            if not guards.parseable(body, environ.get("CONTENT_TYPE", "")):
                log.warning("refused a request whose body is not shaped like Slack's")
                return _json(start_response, 400, {"ok": False, "error": "malformed body"})
            environ["wsgi.input"] = io.BytesIO(body)
            return slack(environ, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy = database.ping()
            return _json(start_response, 200 if healthy else 503, {"ok": healthy, "database": healthy})
        return _json(start_response, 404, {"ok": False, "error": "not found"})

    return wsgi


def _json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


class HttpServer:
    """A waitress server that can run in a thread (tests, demo) or in the foreground (`cancel-sub serve`)."""

    def __init__(
        self,
        wsgi_app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
        listener: socket.socket | None = None,
    ) -> None:
        # `listener`: a socket already bound and listening, shared with other worker processes.
        where: dict[str, Any] = {"sockets": [listener]} if listener is not None else {"host": host, "port": port}
        self._server = create_server(
            wsgi_app,
            **where,
            threads=threads,
            ident="cancel-sub",
            # Slack's payloads are a few kilobytes; anything near this is not Slack (answered 413).
            max_request_body_size=MAX_BODY_BYTES,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        self._server.run()

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def close(self, *, drain_seconds: float = 5.0) -> None:
        """Finish the requests being served, then close every socket from inside the event loop, which ends it."""
        server: Any = self._server
        server.accepting = False
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=drain_seconds)

        def close_all() -> None:
            for channel in list(server._map.values()):
                channel.close()

        server.trigger.pull_trigger(close_all)
        if self._thread is not None:
            self._thread.join(timeout=drain_seconds)
