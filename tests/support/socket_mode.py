"""A stand-in for Slack's Socket Mode service on 127.0.0.1: it hands out ws:// URLs (through the fake Web API's
`apps.connections.open`), says hello, sends envelopes in the shapes Slack documents, times each ack by envelope id,
redelivers, asks for refreshes, and drops connections the four ways a network does (close frame, reset, an end
without a close frame, silence)."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


@dataclass
class Link:
    """One WebSocket connection from the app, reached through a relay that can go silent or reset."""

    number: int
    connection: ServerConnection
    relay: Relay
    opened_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None
    refreshed: bool = False

    @property
    def open(self) -> bool:
        return self.closed_at is None and not self.relay.silent


@dataclass
class Delivery:
    envelope_id: str
    kind: str
    payload: dict[str, Any]
    sent_at: list[float] = field(default_factory=list)  # one per delivery (redeliveries included)
    acked_at: float | None = None
    ack: dict[str, Any] | None = None

    @property
    def ack_seconds(self) -> float | None:
        """From the first delivery to the ack: what Slack holds the app to."""
        return None if self.acked_at is None else self.acked_at - self.sent_at[0]


class Relay:
    """A TCP relay in front of one connection: `silence()` stops every byte both ways and keeps the sockets open,
    as a path that dies without a word; `reset()` ends it with a TCP reset."""

    def __init__(self, upstream: tuple[str, int], client: socket.socket) -> None:
        self.silent = False
        self.resetting = False
        self._client = client
        self._upstream = socket.create_connection(upstream)
        self.port = self._upstream.getsockname()[1]  # how the server side tells which relay a connection came by
        for source, sink in ((client, self._upstream), (self._upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if self.silent:
                    continue  # swallowed: the other side never hears of it
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            if not self.silent and not self.resetting:  # a reset sends no FIN first
                for end in (source, sink):
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)

    def silence(self) -> None:
        self.silent = True

    def end(self) -> None:
        for end in (self._client, self._upstream):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        self.resetting = True
        self._client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for end in (self._client, self._upstream):
            # Linux frees a socket only when no thread is still blocked reading it, so the pump is woken first;
            # otherwise the reset would wait for the app's next byte, which a real reset does not.
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RD)
            end.close()


class SocketModeStandIn:
    """Point the fake Web API at `url_for_app` (FakeSlack.socket_mode_url); `send` returns the envelope id."""

    def __init__(self, *, app_id: str = "A0ABCDEF1") -> None:
        self.app_id = app_id
        self.links: list[Link] = []
        self.deliveries: dict[str, Delivery] = {}
        self.unknown_messages: list[str] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._relays: dict[int, Relay] = {}
        self._server: Server = serve(self._session, "127.0.0.1", 0, ping_interval=None, compression=None)
        self._upstream = self._server.socket.getsockname()[:2]
        self._front = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._server.serve_forever, name="socket-mode", daemon=True).start()
        threading.Thread(target=self._accept, name="socket-mode-relay", daemon=True).start()

    # -- the address the app gets from apps.connections.open -----------------------------------------------

    def url_for_app(self) -> str:
        port = self._front.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id={self.app_id}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._front.accept()
            except OSError:
                return
            relay = Relay(self._upstream, client)
            with self._lock:
                self._relays[relay.port] = relay

    def _session(self, connection: ServerConnection) -> None:
        relay = self._relay_of(connection)
        with self._lock:
            link = Link(next(self._numbers), connection, relay)
            self.links.append(link)
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": sum(1 for item in self.links if item.open),
                    "debug_info": {"host": "applink-standin", "build_number": 1, "approximate_connection_time": 18060},
                    "connection_info": {"app_id": self.app_id},
                }
            )
        )
        try:
            for message in connection:
                self._received(str(message))
        except ConnectionClosed:
            pass
        finally:
            link.closed_at = time.monotonic()

    def _relay_of(self, connection: ServerConnection) -> Relay:
        port = connection.remote_address[1]
        for _ in range(500):  # the relay registers itself just after its connection is made
            with self._lock:
                if port in self._relays:
                    return self._relays.pop(port)
            time.sleep(0.002)
        raise RuntimeError(f"no relay for the connection from port {port}")

    def _received(self, message: str) -> None:
        now = time.monotonic()
        try:
            body = json.loads(message)
            envelope_id = body["envelope_id"]
        except (ValueError, KeyError, TypeError):
            self.unknown_messages.append(message)
            return
        with self._lock:
            delivery = self.deliveries.get(envelope_id)
            if delivery is not None and delivery.acked_at is None:
                delivery.acked_at, delivery.ack = now, body.get("payload") or {}

    # -- what a test does ------------------------------------------------------------------------------------

    def wait_for_link(self, *, after: int = 0, timeout: float = 30.0) -> Link:
        """The first open connection numbered above `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = next((link for link in self.links if link.number > after and link.open), None)
            if found is not None:
                return found
            time.sleep(0.01)
        raise TimeoutError(f"the app opened no connection after #{after} within {timeout} s")

    def newest_open(self) -> Link | None:
        with self._lock:
            return next((link for link in reversed(self.links) if link.open), None)

    def send(
        self, kind: str, payload: dict[str, Any], *, link: Link | None = None, accepts_response_payload: bool = True
    ) -> str:
        """Deliver one envelope (slash_commands, interactive or events_api) on `link` or the newest open one."""
        envelope_id = str(uuid.uuid4())
        delivery = Delivery(envelope_id, kind, payload)
        with self._lock:
            self.deliveries[envelope_id] = delivery
        self._deliver(delivery, link, retry_attempt=0, accepts_response_payload=accepts_response_payload)
        return envelope_id

    def redeliver(self, envelope_id: str, *, link: Link | None = None, reason: str = "timeout") -> None:
        delivery = self.deliveries[envelope_id]
        self._deliver(delivery, link, retry_attempt=len(delivery.sent_at), retry_reason=reason)

    def _deliver(
        self,
        delivery: Delivery,
        link: Link | None,
        *,
        retry_attempt: int,
        retry_reason: str = "",
        accepts_response_payload: bool = True,
    ) -> None:
        target = link or self.newest_open()
        if target is None:
            raise RuntimeError("no open connection to deliver on")
        envelope = {
            "envelope_id": delivery.envelope_id,
            "type": delivery.kind,
            "payload": delivery.payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        delivery.sent_at.append(time.monotonic())
        target.connection.send(json.dumps(envelope))

    def refresh(self, link: Link, *, close_after: float = 1.0) -> None:
        """Slack's routine refresh: a `disconnect` message, then the connection closed a little later."""
        link.refreshed = True
        link.connection.send(
            json.dumps({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "applink-standin"}})
        )
        threading.Timer(close_after, self.close, args=(link,)).start()

    def close(self, link: Link) -> None:
        """A clean end: a close frame."""
        with contextlib.suppress(ConnectionClosed):
            link.connection.close(code=1001, reason="going away")

    def reset(self, link: Link) -> None:
        link.relay.reset()

    def end(self, link: Link) -> None:
        """The TCP connection ends (FIN) without a close frame, as a proxy that drops an idle connection does."""
        link.relay.end()

    def silence(self, link: Link) -> None:
        link.relay.silence()

    def wait_acked(self, envelope_id: str, timeout: float = 10.0) -> Delivery:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            delivery = self.deliveries[envelope_id]
            if delivery.acked_at is not None:
                return delivery
            time.sleep(0.005)
        raise TimeoutError(f"envelope {envelope_id} ({self.deliveries[envelope_id].kind}) was not acked in {timeout} s")

    def stop(self) -> None:
        self._front.close()
        self._server.shutdown()
        with self._lock:
            links = list(self.links)
        for link in links:
            with contextlib.suppress(OSError):
                link.relay.reset()
