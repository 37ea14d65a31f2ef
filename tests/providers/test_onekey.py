"""OneKey adapter: signatures checked against vectors computed here, lookups, id validation."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import pytest

from providers.base import InvalidSubscriptionId, Outcome, SubscriptionStatus
from providers.onekey import OneKeyProvider
from tests.support.providers import ScriptedServer, Sleeps, html, json_response, raw

BASE = "https://api-stg.onekey.test"
SUB = "/v3/subscriptions/219"
FIXED = datetime(2026, 11, 23, 8, 15, 26, 987654, tzinfo=UTC)


def make(server: ScriptedServer, **kwargs: object) -> OneKeyProvider:
    options: dict[str, object] = {"now": lambda: FIXED, "sleep": Sleeps()}
    options.update(kwargs)
    return OneKeyProvider(
        client=server.client(), api_key="merchant-login", api_signature="s3cr3t-signature", base_url=BASE, **options
    )  # type: ignore[arg-type]


def expected_signature(date: str, login: str, body: str, secret: str) -> str:
    # Written out here on purpose, not by calling the code under test.
    digest = hmac.new(secret.encode(), f"{date}{login}{body}".encode(), hashlib.sha256)
    return digest.hexdigest()


def test_delete_is_signed_over_date_login_and_an_empty_body() -> None:
    server = ScriptedServer().on("DELETE", SUB, raw(200, b""))
    make(server).cancel("219")
    sent = server.requests[0]
    assert sent.headers["x-date"] == "2026-11-23T08:15:26Z"
    assert sent.headers["x-login"] == "merchant-login"
    assert sent.headers["content-type"] == "application/json"
    assert sent.content == b""
    signature = expected_signature("2026-11-23T08:15:26Z", "merchant-login", "", "s3cr3t-signature")
    assert sent.headers["authorization"] == f"OKP {signature}"
    assert re.fullmatch(r"OKP [0-9a-f]{64}", sent.headers["authorization"])


# Computed with `openssl dgst -sha256 -hmac s3cr3t-signature` over X-Date + X-Login (+ body).
VECTOR_EMPTY_BODY = "36323ce579c361ba0882349fa8e7f0334fb8348810d838d7797cdf79d8cb2e7e"
VECTOR_BRACES_BODY = "c15328bdc14c3b764c71a05e99d8b327bcf681b5d39b6314a1c498c39de95104"


def test_signatures_match_vectors_from_an_independent_tool() -> None:
    server = ScriptedServer().on("DELETE", SUB, raw(200, b""))
    make(server).cancel("219")
    make(server, send_empty_json=True).cancel("219")
    assert [r.headers["authorization"] for r in server.requests] == [
        f"OKP {VECTOR_EMPTY_BODY}",
        f"OKP {VECTOR_BRACES_BODY}",
    ]


def test_the_empty_json_body_option_sends_and_signs_braces() -> None:
    server = ScriptedServer().on("DELETE", SUB, raw(200, b""))
    make(server, send_empty_json=True, auth_prefix="D24").cancel("219")
    sent = server.requests[0]
    assert sent.content == b"{}"
    signature = expected_signature("2026-11-23T08:15:26Z", "merchant-login", "{}", "s3cr3t-signature")
    assert sent.headers["authorization"] == f"D24 {signature}"


def test_each_retry_is_signed_anew_with_a_fresh_date() -> None:
    moments = iter([FIXED, FIXED + timedelta(seconds=3)])
    server = ScriptedServer().on("DELETE", SUB, raw(429, b""), raw(200, b""))
    make(server, now=lambda: next(moments)).cancel("219")
    first, second = server.requests
    assert first.headers["x-date"] != second.headers["x-date"]
    assert second.headers["authorization"] == "OKP " + expected_signature(
        second.headers["x-date"], "merchant-login", "", "s3cr3t-signature"
    )


def test_lookup_parses_the_documented_subscription() -> None:
    body = {
        "id": 219,
        "status": "ACTIVE",
        "start_date": "2020-10-10",
        "end_date": "2020-10-17",
        "creation_date": "2025-02-18T17:18:21.67708163",
        "subscription_plan": "WEEKLY",
        "amount": 10.90,
        "auto_renewal": True,
        "last_modified_date": "2025-02-18T13:49:16",
    }
    server = ScriptedServer().on(
        "GET",
        SUB,
        raw(
            200,
            b'{"id": 219, "status": "ACTIVE", "start_date": "2020-10-10", '
            b'"end_date": "2020-10-17", "creation_date": '
            b'"2025-02-18T17:18:21.67708163", "subscription_plan": "WEEKLY", '
            b'"amount": 10.90, "auto_renewal": true, '
            b'"last_modified_date": "2025-02-18T13:49:16"}',
        ),
    )
    found = make(server).lookup("219")
    assert found.snapshot is not None
    assert found.snapshot.status is SubscriptionStatus.ACTIVE
    assert found.snapshot.amount == "10.90"  # exact, never through a float
    assert found.snapshot.plan == "WEEKLY"
    assert found.snapshot.dates["creation_date"] == body["creation_date"]
    assert "renews automatically" in found.snapshot.notes
    assert server.requests[0].method == "GET" and server.requests[0].content == b""


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("CANCELLED", SubscriptionStatus.CANCELLED),
        ("TERMINATED", SubscriptionStatus.TERMINATED),
        ("PENDING", SubscriptionStatus.PENDING),
    ],
)
def test_lookup_statuses(status: str, expected: SubscriptionStatus) -> None:
    server = ScriptedServer().on("GET", SUB, json_response(200, {"id": 219, "status": status}))
    snapshot = make(server).lookup("219").snapshot
    assert snapshot is not None and snapshot.status is expected


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b'{"id": 219}', b'{"id": 219, "status": "WEIRD"}', b'{"id": 5, "status": "ACTIVE"}', b"[]"],
)
def test_lookup_with_an_unreadable_subscription_is_unknown(body: bytes) -> None:
    server = ScriptedServer().on("GET", SUB, raw(200, body))
    assert make(server).lookup("219").problem is Outcome.UNKNOWN


def test_lookup_retries_5xx_then_reports() -> None:
    server = ScriptedServer().on("GET", SUB, html(502))
    found = make(server).lookup("219")
    assert found.problem is Outcome.PROVIDER_ERROR and len(server.requests) == 3


def test_lookup_not_found() -> None:
    server = ScriptedServer().on(
        "GET",
        SUB,
        json_response(
            420, {"code": 420, "description": "Subscription does not exist.", "type": "SUBSCRIPTION_NOT_FOUND"}
        ),
    )
    found = make(server).lookup("219")
    assert found.problem is Outcome.NOT_FOUND and "does not exist" in found.detail


@pytest.mark.parametrize("bad", ["0", "-5", "abc", "1.5", "12345678901234567890", "9223372036854775808", "../1", ""])
def test_bad_ids_are_refused_before_any_call(bad: str) -> None:
    server = ScriptedServer()
    with pytest.raises(InvalidSubscriptionId, match="positive whole number"):
        make(server).cancel(bad)
    assert server.requests == []


def test_hints_point_at_the_fix_and_never_at_the_secret() -> None:
    server = ScriptedServer().on(
        "DELETE", SUB, json_response(401, {"code": 401, "description": "Invalid IP", "type": "INVALID_IP"})
    )
    result = make(server).cancel("219")
    assert "allow-listed" in result.detail and "s3cr3t" not in result.detail
