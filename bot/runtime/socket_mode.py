"""Socket Mode: Bolt's handler on slack_sdk's built-in client, with a connection switch that never holds an ack.

Measured against the Socket Mode stand-in (tests/support/socket_mode.py), neither client slack_sdk offers for a
synchronous app keeps acks prompt while Slack refreshes a connection:
- the built-in client reads every connection on one thread and closes the old one inline, so an envelope that
  arrives during the switch waits out the old socket's 3 s receive timeout before it is acked;
- the websocket-client one closes the old connection the moment it opens the new, so an envelope Slack sent on
  the old one in between is never read, and Slack retries it.
Here each connection is read on a thread of its own, the new one becomes current (acks go out on it) as soon as
it is open, and the old one is still read until Slack closes it, so nothing sent on either waits or is lost.
A connection that fails (a reset, an end without a close frame, a ping that cannot be sent) is replaced at once,
not at the monitor's next tick or after five failed pings."""

from __future__ import annotations

import errno
import socket
import threading
import time

from slack_bolt import App
from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.builtin.connection import Connection, ConnectionState

# Pings this often; a connection that has answered none for four intervals is dead and replaced (about 5 s).
PING_SECONDS = 1.0
# How long an old connection is still read after the switch, unless Slack closes it sooner (Slack closes it
# about 10 s after asking for the refresh).
OLD_CONNECTION_READ_SECONDS = 15.0


class SwitchingClient(SocketModeClient):
    def connect(self) -> None:
        old_session, old_state = self.current_session, self.current_session_state
        if self.wss_uri is None:
            self.wss_uri = self.issue_new_wss_url()
        session = _Connection(
            url=self.wss_uri,
            logger=self.logger,
            ping_interval=self.ping_interval,
            trace_enabled=self.trace_enabled,
            all_message_trace_enabled=self.all_message_trace_enabled,
            ping_pong_trace_enabled=self.ping_pong_trace_enabled,
            receive_buffer_size=self.receive_buffer_size,
            proxy=self.proxy,
            proxy_headers=self.proxy_headers,
            on_message_listener=self._on_message,
            on_error_listener=self._on_error,
            on_close_listener=self._on_close,
            ssl_context=self.web_client.ssl,
        )
        session.connect()
        state = ConnectionState()
        self.current_session, self.current_session_state = session, state
        self.auto_reconnect_enabled = self.default_auto_reconnect_enabled
        _thread(f"socket-mode-read-{session.session_id}", self._read, session, state)
        if old_session is not None and old_state is not None:
            _thread("socket-mode-retire", _retire, old_session, old_state)
        if not self.current_app_monitor_started:
            self.current_app_monitor_started = True
            self.current_app_monitor.start()
        self.logger.info("Socket Mode connection %s open", session.session_id)

    def _run_current_session(self) -> None:
        """Each connection has its own reading thread (started in `connect`), not this shared one."""

    def _read(self, session: Connection, state: ConnectionState) -> None:
        session.run_until_completion(state)
        if session is self.current_session and self.auto_reconnect_enabled and not self.closed:
            self.connect_to_new_endpoint()  # does nothing if a refresh already put another connection in place


class _Connection(Connection):
    def connect(self) -> None:
        super().connect()
        if self.sock is not None:
            self.sock = _EndAwareSocket(self.sock)  # type: ignore[assignment]

    def ping(self, payload: str | bytes = "") -> None:
        """A ping that cannot be sent means the connection is gone: close it so the monitor replaces it now."""
        try:
            super().ping(payload)
        except OSError:
            self.logger.info("Socket Mode connection %s lost (a ping could not be sent)", self.session_id)
            self.disconnect()


class SwitchingSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler on SwitchingClient."""

    def __init__(self, app: App, app_token: str, *, concurrency: int) -> None:
        self.app = app
        self.app_token = app_token
        self.client = SwitchingClient(
            app_token=app_token,
            logger=app.logger,
            web_client=app.client,
            ping_interval=PING_SECONDS,
            concurrency=concurrency,
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]


class _EndAwareSocket:
    """A socket whose end (a read of nothing) is an error. The built-in reader takes an empty read for "no data
    yet" and reads again at once, spinning a core until a ping fails; an error ends it and the connection is
    replaced."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        if not data and size:
            raise ConnectionAbortedError(errno.ECONNABORTED, "the connection was ended by the other side")
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def _retire(session: Connection, state: ConnectionState) -> None:
    """Read the old connection until Slack closes it (or for OLD_CONNECTION_READ_SECONDS), then close it."""
    deadline = time.monotonic() + OLD_CONNECTION_READ_SECONDS
    while session.is_active() and time.monotonic() < deadline:
        time.sleep(0.1)
    state.terminated = True
    session.close()


def _thread(name: str, target: object, *args: object) -> None:
    threading.Thread(target=target, args=args, name=name, daemon=True).start()  # type: ignore[arg-type]
