"""Kajabi adapter: token lifecycle, lookups with related resources, retries, id validation."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from providers.base import InvalidSubscriptionId, Outcome, SubscriptionStatus
from providers.kajabi import KajabiProvider
from tests.support.providers import (
    JSON_API,
    ScriptedServer,
    Sleeps,
    html,
    json_response,
    jsonapi_error,
    purchase,
    raw,
    read_timeout,
    token,
)

BASE = "https://api.kajabi.test"
CANCEL = "/v1/purchases/2150820/cancel_subscription"
PURCHASE = "/v1/purchases/2150820"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(server: ScriptedServer, *, clock: Clock | None = None, sleeps: Sleeps | None = None) -> KajabiProvider:
    return KajabiProvider(
        client=server.client(),
        client_id="cid-1",
        client_secret="csecret-1",
        base_url=BASE,
        sleep=sleeps or Sleeps(),
        clock=clock or Clock(),
    )


def ok_purchase(**attributes: object) -> httpx.Response:
    return json_response(200, purchase(**attributes), content_type=JSON_API)


def customer() -> httpx.Response:
    return json_response(
        200,
        {
            "data": {
                "id": "777",
                "type": "customers",
                "attributes": {"name": "Ada Lovelace", "email": "ada@example.com"},
            }
        },
        content_type=JSON_API,
    )


def offer(subscription: bool = True) -> httpx.Response:
    return json_response(
        200,
        {
            "data": {
                "id": "888",
                "type": "offers",
                "attributes": {"title": "Pro monthly", "subscription": subscription, "price_in_cents": 4900},
            }
        },
        content_type=JSON_API,
    )


def test_token_request_is_form_encoded_client_credentials_and_cached() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token("tok-A", 7200)).on("POST", CANCEL, ok_purchase())
    provider = make(server)
    assert provider.cancel("2150820").outcome is Outcome.CANCELLED
    assert provider.cancel("2150820").outcome is Outcome.CANCELLED
    token_calls = server.calls("POST", "/v1/oauth/token")
    assert len(token_calls) == 1
    assert token_calls[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_calls[0].content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["cid-1"],
        "client_secret": ["csecret-1"],
    }
    cancel = server.calls("POST", CANCEL)[0]
    assert cancel.headers["authorization"] == "Bearer tok-A"
    assert cancel.content == b""  # the documented cancel has no body


def test_a_token_expiring_mid_run_is_replaced_before_use() -> None:
    clock = Clock()
    server = ScriptedServer().on("POST", "/v1/oauth/token", token("tok-1", 600), token("tok-2", 600))
    server.on("POST", CANCEL, ok_purchase())
    provider = make(server, clock=clock)
    provider.cancel("2150820")
    clock.now += 599  # inside the refresh margin: the old token would die in flight
    provider.cancel("2150820")
    assert [r.headers["authorization"] for r in server.calls("POST", CANCEL)] == ["Bearer tok-1", "Bearer tok-2"]


def test_a_token_without_lifetime_is_not_cached() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token("t", None)).on("POST", CANCEL, ok_purchase())
    provider = make(server)
    provider.cancel("2150820")
    provider.cancel("2150820")
    assert len(server.calls("POST", "/v1/oauth/token")) == 2


def test_a_token_rejected_by_the_api_is_renewed_once_not_in_a_loop() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token("a"), token("b"), token("c"))
    server.on("POST", CANCEL, jsonapi_error(401, "Unauthorized", "Invalid token"))
    result = make(server).cancel("2150820")
    assert result.outcome is Outcome.AUTH_FAILED
    assert len(server.calls("POST", "/v1/oauth/token")) == 2
    assert len(server.calls("POST", CANCEL)) == 2


def test_token_endpoint_error_words_are_kept_without_the_secret() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", json_response(401, {"error": "Invalid client credentials"}))
    result = make(server).cancel("2150820")
    assert result.outcome is Outcome.AUTH_FAILED
    assert "Invalid client credentials" in result.detail and "csecret-1" not in result.detail


def test_lookup_reads_purchase_customer_and_offer() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", PURCHASE, ok_purchase()).on("GET", "/v1/customers/777", customer())
    server.on("GET", "/v1/offers/888", offer())
    found = make(server).lookup("2150820")
    assert found.snapshot is not None
    snap = found.snapshot
    assert (snap.status, snap.customer_name, snap.customer_email, snap.plan, snap.amount, snap.currency) == (
        SubscriptionStatus.ACTIVE,
        "Ada Lovelace",
        "ada@example.com",
        "Pro monthly",
        "49",
        "USD",
    )
    assert snap.dates["effective_start_at"].startswith("2026-01-15")


def test_related_resources_failing_do_not_fail_the_lookup() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", PURCHASE, ok_purchase()).on("GET", "/v1/customers/777", html(500))
    server.on("GET", "/v1/offers/888", jsonapi_error(403, "Forbidden", "no offers scope"))
    found = make(server).lookup("2150820")
    assert found.snapshot is not None and found.snapshot.customer_name is None
    assert "customer details could not be read" in found.snapshot.notes
    assert "offer details could not be read" in found.snapshot.notes


def test_a_deactivated_purchase_is_shown_as_such_not_as_cancelled() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", PURCHASE, ok_purchase(deactivated_at="2026-10-01T00:00:00Z", deactivation_reason="manual"))
    server.on("GET", "/v1/customers/777", customer()).on("GET", "/v1/offers/888", offer(subscription=False))
    snap = make(server).lookup("2150820").snapshot
    assert snap is not None and snap.status is SubscriptionStatus.DEACTIVATED
    assert any("may still run" in n for n in snap.notes)
    assert any("not a subscription" in n for n in snap.notes)


def test_lookup_retries_a_read_timeout_then_reports_a_provider_error() -> None:
    sleeps = Sleeps()
    server = ScriptedServer().on("POST", "/v1/oauth/token", token()).on("GET", PURCHASE, read_timeout())
    found = make(server, sleeps=sleeps).lookup("2150820")
    assert found.problem is Outcome.PROVIDER_ERROR and found.snapshot is None
    assert len(server.calls("GET", PURCHASE)) == 3 and len(sleeps.calls) == 2


def test_lookup_of_a_missing_purchase_is_not_found() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", PURCHASE, jsonapi_error(404, "Not Found", "Record not found"))
    found = make(server).lookup("2150820")
    assert found.problem is Outcome.NOT_FOUND and "Record not found" in found.detail


def test_lookup_with_an_unreadable_body_is_unknown() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token()).on("GET", PURCHASE, raw(200, b"[1, 2]"))
    assert make(server).lookup("2150820").problem is Outcome.UNKNOWN


def test_retry_after_is_honoured_and_capped() -> None:
    sleeps = Sleeps()
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on(
        "GET", PURCHASE, raw(429, b"", **{"Retry-After": "3"}), raw(429, b"", **{"Retry-After": "3600"}), ok_purchase()
    )
    server.on("GET", "/v1/customers/777", customer()).on("GET", "/v1/offers/888", offer())
    assert make(server, sleeps=sleeps).lookup("2150820").found
    assert sleeps.calls == [3.0, 10.0]


def test_a_cancel_read_timeout_is_never_repeated() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token()).on("POST", CANCEL, read_timeout(), ok_purchase())
    result = make(server).cancel("2150820")
    assert result.outcome is Outcome.UNKNOWN and len(server.calls("POST", CANCEL)) == 1


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "12/34", "a b", "x" * 65, "ünï", "1;DROP", "%2e%2e"])
def test_bad_ids_are_refused_before_any_call(bad: str) -> None:
    server = ScriptedServer()
    provider = make(server)
    with pytest.raises(InvalidSubscriptionId, match="letters, digits"):
        provider.cancel(bad)
    with pytest.raises(InvalidSubscriptionId):
        provider.lookup(bad)
    assert server.requests == []


def test_the_cancel_never_uses_deactivate() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token()).on("POST", CANCEL, ok_purchase())
    make(server).cancel("2150820")
    assert not any(r.url.path.endswith("/deactivate") for r in server.requests)


def test_repr_shows_no_credentials() -> None:
    provider = make(ScriptedServer())
    assert "csecret-1" not in repr(provider) and "cid-1" not in repr(provider)
