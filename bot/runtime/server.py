"""HTTP mode: Slack's requests at POST /slack/events, GET /healthz, served by waitress (threaded WSGI).

Stopping uses only public interfaces: the WSGI app itself refuses new work once asked to stop (503, so Slack retries
elsewhere and a load balancer takes the replica out) and counts the responses still being written (a WSGI server
calls `close()` on a response once it has sent it). Then the server closes its listening socket and its task
threads finish; connections still open end with their clients (or waitress's channel timeout), and a stopping
process does not wait for them.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from waitress.server import create_server

from bot.slack import guards
from storage.database import Database

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1024 * 1024
# Idle or slow connections cost waitress no thread (it reads each request whole before a thread sees it), but each
# holds a place: allow many places, and close a connection silent for this long, so a few hundred idle or
# trickling clients cannot keep Slack out. A buffering reverse proxy in front is still the first defence.
CONNECTION_LIMIT = 2000
IDLE_SECONDS = 15
StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class SlackWsgi:
    """The WSGI app: Slack's endpoint behind a signature check and a body guard, the health check, and a gate for
    stopping. The signature is checked first, on the raw bytes: nothing unsigned is parsed, and what is refused is
    logged in one short line, never with its body."""

    def __init__(self, app: App, database: Database, *, signing_secret: str) -> None:
        self._app = app
        self._database = database
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._stopping = threading.Event()
        self._open = 0
        self._lock = threading.Condition()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            self._open += 1
        try:
            body = self._answer(environ, start_response)
        except BaseException:
            self._closed()
            raise
        return _OnClose(body, self._closed)

    def _answer(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == EVENTS_PATH and method == "POST":
            if self._stopping.is_set():
                return _json(start_response, 503, {"ok": False, "error": "stopping"})
            body = environ["wsgi.input"].read(_content_length(environ))
            if not self._signed(environ, body):
                log.warning("refused a request without a valid Slack signature (%d bytes)", len(body))
                return _json(start_response, 401, {"ok": False, "error": "invalid signature"})
            if _is_ssl_check(body, environ.get("CONTENT_TYPE", "")):
                return _json(start_response, 200, {"ok": True})
            # Bolt fails on shapes Slack never sends (and misreads some it does): it gets the body read here.
            fields = guards.read(body, environ.get("CONTENT_TYPE", ""))
            if fields is None:
                log.warning("refused a request whose body is not shaped like Slack's")
                return _json(start_response, 400, {"ok": False, "error": "malformed body"})
            return self._dispatch(environ, fields, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy = not self._stopping.is_set() and self._database.ping()
            return _json(start_response, 200 if healthy else 503, {"ok": healthy, "database": healthy})
        return _json(start_response, 404, {"ok": False, "error": "not found"})

    def _dispatch(self, environ: Environ, fields: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Bolt's WSGI adapter, given the body already read: Bolt takes a read body only in its Socket Mode form,
        which changes nothing else here (its own signature check is off, the server made it, and no listener is
        lazy, so the request is never copied)."""
        request = WsgiHttpRequest(environ)
        answer = self._app.dispatch(
            BoltRequest(body=fields, query=request.query_string, headers=request.get_headers(), mode="socket_mode")
        )
        response = WsgiHttpResponse(status=answer.status, headers=answer.headers, body=answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()

    def _signed(self, environ: Environ, body: bytes) -> bool:
        """Slack's HMAC over the raw body, within five minutes; any malformed header is simply not signed."""
        if self._verifier is None:
            return True  # no secret configured: only the tests' in-process app runs so
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))[:20]
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))[:100]
        if not timestamp.isdigit() or not signature:
            return False
        try:
            return self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except (ValueError, TypeError, UnicodeDecodeError):
            return False

    def _closed(self) -> None:
        with self._lock:
            self._open -= 1
            self._lock.notify_all()

    def stop_taking_work(self, *, wait_seconds: float) -> bool:
        """Refuse new Slack requests from now on and wait for the answers being written; True when none is left."""
        self._stopping.set()
        deadline = time.monotonic() + wait_seconds
        with self._lock:
            return self._lock.wait_for(lambda: self._open == 0, timeout=max(0.0, deadline - time.monotonic()))


class _OnClose:
    """A response body that reports when the server has finished with it (WSGI calls close() after sending)."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self._body = body
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()


def _content_length(environ: Environ) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _is_ssl_check(body: bytes, content_type: str) -> bool:
    """Slack's certificate check: a signed form POST with ssl_check=1, to be answered 200 and nothing else."""
    # Every request passes here: only a body that names the field is parsed (a tenth of a command's ack time).
    if b"ssl_check" not in body or content_type.startswith("application/json"):
        return False
    return parse_qs(body.decode("utf-8", "replace")).get("ssl_check") == ["1"]


def _json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


class HttpServer:
    """A waitress server on a socket bound here, run in a thread (tests, demo) or in the foreground (`serve`)."""

    def __init__(self, wsgi_app: SlackWsgi, *, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> None:
        self.wsgi_app = wsgi_app
        listener = socket.create_server((host, port), backlog=1024)
        self.port: int = listener.getsockname()[1]
        self._server: Any = create_server(
            wsgi_app,
            sockets=[listener],
            threads=threads,
            ident="cancel-sub",
            # Slack's payloads are a few kilobytes; anything near this is not Slack (answered 413).
            max_request_body_size=MAX_BODY_BYTES,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=IDLE_SECONDS,
            cleanup_interval=IDLE_SECONDS / 3,
        )
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        try:
            self._server.run()
        except OSError:
            # Closing the listening socket under the server's select() ends its loop this way.
            if not self._closing.is_set():
                raise

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def close(self, *, drain_seconds: float = 5.0) -> None:
        """Let the answers being written finish, then stop listening and end the server's threads."""
        self.wsgi_app.stop_taking_work(wait_seconds=drain_seconds)
        self._closing.set()
        self._server.close()
        self._server.task_dispatcher.shutdown(timeout=drain_seconds)
