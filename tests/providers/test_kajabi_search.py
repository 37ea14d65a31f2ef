"""Kajabi: a customer found by email (its fuzzy customer search, filtered to the exact email), then their purchases
page by page, active ones first; every request and answer validated against Kajabi's official spec."""

from __future__ import annotations

from typing import Any

import httpx

from providers.base import Outcome, SubscriptionStatus
from providers.kajabi import PAGE_SIZE, SEARCH_PURCHASES, KajabiProvider
from tests.providers.test_kajabi_contract import BASE, assert_valid, offer, recorded
from tests.support.providers import JSON_API, ScriptedServer, Sleeps, json_response, token


def make(server: ScriptedServer, *, site_id: str = "123") -> KajabiProvider:
    return KajabiProvider(
        client=server.client(),
        client_id="cid",
        client_secret="csecret",
        base_url=BASE,
        site_id=site_id,
        sleep=Sleeps(),
    )


def customers(*people: tuple[str, str, str]) -> httpx.Response:
    data = [
        {"id": cid, "type": "customers", "attributes": {"name": name, "email": email}} for cid, name, email in people
    ]
    return json_response(200, {"data": data, "meta": {"count": len(data)}}, content_type=JSON_API)


def purchases(*rows: tuple[str, str | None, str]) -> httpx.Response:
    """(id, deactivated_at, effective_start_at) each."""
    data = [
        {
            "id": pid,
            "type": "purchases",
            "attributes": {
                "amount_in_cents": 4900,
                "currency": "usd",
                "effective_start_at": started,
                "deactivated_at": deactivated,
                "created_at": started,
            },
            "relationships": {"offer": {"data": {"id": "888", "type": "offers"}}},
        }
        for pid, deactivated, started in rows
    ]
    return json_response(200, {"data": data}, content_type=JSON_API)


def searched(server: ScriptedServer) -> list[dict[str, Any]]:
    return [dict(r.url.params) for r in server.requests if r.url.path in ("/v1/customers", "/v1/purchases")]


def test_the_customers_purchases_active_first_with_their_offer_and_the_spec_followed() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", "/v1/customers", customers(("777", "Ada", "ada@example.com"), ("778", "Adam", "adam@example.com")))
    server.on(
        "GET",
        "/v1/purchases",
        purchases(
            ("p1", "2026-03-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z"),
            ("p2", None, "2025-06-01T00:00:00.000Z"),
            ("p3", None, "2026-02-01T00:00:00.000Z"),
        ),
    )
    server.on("GET", "/v1/offers/888", offer())
    pairs = recorded(server)
    found = make(server).find_by_email(" ADA@example.com ")
    assert found.customers == 1 and found.problem is None and not found.more
    assert [c.subscription_id for c in found.candidates] == ["p3", "p2", "p1"]  # active (newest first), then the rest
    assert found.candidates[2].status is SubscriptionStatus.DEACTIVATED
    first = found.candidates[0]
    assert (first.product, first.amount, first.currency, first.started) == ("Pro monthly", "49", "USD", "2026-02-01")
    queries = searched(server)
    assert queries[0] == {"filter[site_id]": "123", "filter[search]": "ADA@example.com", "page[size]": "25"}
    assert queries[1] == {"filter[customer_id]": "777", "page[number]": "1", "page[size]": str(PAGE_SIZE)}
    assert len(server.calls("GET", "/v1/offers/888")) == 1  # each offer read once
    assert_valid(pairs)
    assert "ada@example.com" not in repr(found).lower()


def test_no_match_and_several_customers_are_said_as_such() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", "/v1/customers", customers(("1", "Bo", "bob@example.com")))
    assert make(server).find_by_email("nobody@example.com").customers == 0
    twins = ScriptedServer().on("POST", "/v1/oauth/token", token())
    twins.on("GET", "/v1/customers", customers(("1", "A", "same@example.com"), ("2", "B", "Same@Example.com")))
    found = make(twins).find_by_email("same@example.com")
    assert found.customers == 2 and found.candidates == ()
    assert twins.calls("GET", "/v1/purchases") == []


def test_purchases_are_read_page_by_page_and_a_cut_list_says_so() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", "/v1/customers", customers(("777", "Ada", "ada@example.com")))
    full = purchases(*[(f"p{n}", None, "2026-01-01T00:00:00.000Z") for n in range(PAGE_SIZE)])
    server.on("GET", "/v1/purchases", full)
    server.on("GET", "/v1/offers/888", offer())
    found = make(server).find_by_email("ada@example.com")
    pages = [r.url.params["page[number]"] for r in server.calls("GET", "/v1/purchases")]
    assert pages == [str(n) for n in range(1, SEARCH_PURCHASES // PAGE_SIZE + 1)]
    assert found.more and len(found.candidates) == SEARCH_PURCHASES


def test_without_a_site_or_with_kajabi_failing_the_search_says_why() -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    no_site = make(server, site_id="").find_by_email("ada@example.com")
    assert no_site.problem is Outcome.FORBIDDEN and "KAJABI_SITE_ID" in no_site.detail
    assert server.requests == []
    down = ScriptedServer().on("POST", "/v1/oauth/token", token())
    down.on("GET", "/v1/customers", httpx.Response(500, text="oops"))
    failed = make(down).find_by_email("ada@example.com")
    assert failed.problem is not None and failed.candidates == ()


def test_the_email_reaches_no_log_even_though_kajabi_takes_it_in_the_url(caplog: Any) -> None:
    import logging

    from providers.registry import http_client

    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", "/v1/customers", customers(("777", "Ada", "ada@example.com")))
    server.on("GET", "/v1/purchases", purchases())
    caplog.set_level(logging.DEBUG, logger="providers")
    caplog.set_level(logging.INFO)
    provider = KajabiProvider(
        client=http_client(5.0, httpx.MockTransport(server.handler)),
        client_id="cid",
        client_secret="csecret",
        base_url=BASE,
        site_id="123",
        sleep=Sleeps(),
    )
    assert provider.find_by_email("ada@example.com").customers == 1
    assert "ada%40example.com" in str(server.calls("GET", "/v1/customers")[0].url)  # it was in the URL
    assert "ada" not in caplog.text.lower()
