"""Scripted provider servers for httpx.MockTransport: each route answers from a list, and every request is kept."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from providers.base import CancelResult, LookupResult
from providers.sandbox import SandboxProvider

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]

JSON_API = "application/vnd.api+json"


@dataclass
class ScriptedServer:
    """Routes `(METHOD, path)` to answers given in order; the last answer repeats."""

    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer) -> ScriptedServer:
        self.routes[(method, path)] = list(answers)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return httpx.Response(599, text=f"no route for {request.method} {request.url.path}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler), timeout=5)

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


def json_response(status: int, body: Any, *, content_type: str = "application/json", **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": content_type, **headers})


def jsonapi_error(status: int, title: str, detail: str, *, pointer: str | None = None) -> httpx.Response:
    source = {"pointer": pointer} if pointer is not None else None
    body = {"errors": [{"status": str(status), "source": source, "title": title, "detail": detail}]}
    return json_response(status, body, content_type=JSON_API)


def purchase(purchase_id: str = "2150820", **attributes: Any) -> dict[str, Any]:
    base = {
        "amount_in_cents": 4900,
        "payment_type": "subscription",
        "currency": "usd",
        "effective_start_at": "2026-01-15T10:00:00.000Z",
        "deactivated_at": None,
        "deactivation_reason": None,
        "created_at": "2026-01-15T10:00:00.000Z",
        "updated_at": "2026-01-15T10:00:00.000Z",
    }
    base.update(attributes)
    return {
        "data": {
            "id": purchase_id,
            "type": "purchases",
            "attributes": base,
            "relationships": {
                "customer": {"data": {"id": "777", "type": "customers"}},
                "offer": {"data": {"id": "888", "type": "offers"}},
            },
        },
        "links": {"self": f"https://api.kajabi.com/v1/purchases/{purchase_id}"},
    }


def token(value: str = "tok-1", expires_in: int | None = 7200) -> httpx.Response:
    body: dict[str, Any] = {"access_token": value, "refresh_token": "r-" + value, "token_type": "Bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return json_response(200, body)


def html(status: int, text: str = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>") -> httpx.Response:
    return httpx.Response(status, content=text.encode(), headers={"Content-Type": "text/html"})


def raw(status: int, content: bytes, content_type: str = "application/json", **headers: str) -> httpx.Response:
    return httpx.Response(status, content=content, headers={"Content-Type": content_type, **headers})


def connect_refused() -> Exception:
    return httpx.ConnectError("[Errno 111] Connection refused")


def read_timeout() -> Exception:
    return httpx.ReadTimeout("timed out")


class Sleeps:
    """Records requested sleeps instead of sleeping: tests stay fast and can check Retry-After was honoured."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def onekey_error(status: int, code: int, description: str, kind: str) -> httpx.Response:
    return json_response(status, {"code": code, "description": description, "type": kind})


class KajabiPurchase:
    """One Kajabi purchase as the real API treats it: a cancel deactivates it, so it reads back with
    `deactivated_at`; a second cancel is refused as already cancelled; and an answer can be lost (500) after the
    cancel took effect. Serves the token and related-resource routes the adapter asks for too."""

    def __init__(self, purchase_id: str = "2150820", *, deactivated_at: str | None = None) -> None:
        self.purchase_id = purchase_id
        self.deactivated_at = deactivated_at
        self.cancels = 0
        self.fail_after_acting = 0  # that many cancels take effect, then answer 500
        self.fail_reads = 0  # that many purchase reads answer 500

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/oauth/token":
            return token()
        if path == f"/v1/purchases/{self.purchase_id}" and request.method == "GET":
            if self.fail_reads:
                self.fail_reads -= 1
                return html(500)
            return json_response(
                200, purchase(self.purchase_id, deactivated_at=self.deactivated_at), content_type=JSON_API
            )
        if path == f"/v1/purchases/{self.purchase_id}/cancel_subscription" and request.method == "POST":
            self.cancels += 1
            if self.deactivated_at is not None:
                return jsonapi_error(422, "Unprocessable Entity", "Subscription has already been cancelled")
            self.deactivated_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            if self.fail_after_acting:
                self.fail_after_acting -= 1
                return html(500, "Internal Server Error")
            return json_response(
                200, purchase(self.purchase_id, deactivated_at=self.deactivated_at), content_type=JSON_API
            )
        return jsonapi_error(404, "Not Found", f"no {path}")

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler), timeout=5)


class OneKeySubscription:
    """One OneKey subscription as the real API treats it: a DELETE cancels it, a second DELETE answers 421, and
    an answer can be lost (501) after the cancel took effect."""

    def __init__(self, subscription_id: str = "219") -> None:
        self.subscription_id = subscription_id
        self.cancelled = False
        self.deletes = 0
        self.fail_after_acting = 0
        self.fail_before_acting = 0
        self.fail_reads = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != f"/v3/subscriptions/{self.subscription_id}":
            return onekey_error(420, 420, "Subscription not found.", "SUBSCRIPTION_NOT_FOUND")
        if request.method == "GET":
            if self.fail_reads:
                self.fail_reads -= 1
                return html(502)
            status = "CANCELLED" if self.cancelled else "ACTIVE"
            return json_response(200, {"id": int(self.subscription_id), "status": status, "amount": 10.9})
        self.deletes += 1
        if self.cancelled:
            return onekey_error(421, 421, "Subscription was already cancelled.", "SUBSCRIPTION_ALREADY_CANCELLED")
        if self.fail_before_acting:
            self.fail_before_acting -= 1
            return onekey_error(501, 501, "Generic Error", "GENERIC_ERROR")
        self.cancelled = True
        if self.fail_after_acting:
            self.fail_after_acting -= 1
            return onekey_error(501, 501, "Generic Error", "GENERIC_ERROR")
        return raw(200, b"")

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler), timeout=5)


class HeldSandbox(SandboxProvider):
    """The sandbox whose lookups, or cancels, or both, answer only once the test lets them go (`release`): a
    provider that hangs, or is slow to answer."""

    def __init__(self, *, lookups: bool = False, cancels: bool = False) -> None:
        super().__init__(slow_seconds=0)
        self.release = threading.Event()
        self._holds_lookups, self._holds_cancels = lookups, cancels

    def lookup(self, subscription_id: str) -> LookupResult:
        if self._holds_lookups:
            self.release.wait(30)
        return super().lookup(subscription_id)

    def cancel(self, subscription_id: str) -> CancelResult:
        if self._holds_cancels:
            self.release.wait(30)
        return super().cancel(subscription_id)
