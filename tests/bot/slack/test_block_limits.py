"""Every view and message the new paths build stays within Block Kit's limits, and escapes what it shows, with
long and hostile input from people and providers."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack import blocks, forms, picking
from providers.base import Candidate, EmailSearch, SubscriptionStatus
from storage.models import CancellationRequest, RequestStatus

LIMITS = settings(max_examples=int(os.environ.get("LIMIT_EXAMPLES", "60")), deadline=None)
HOSTILE = st.lists(
    st.sampled_from([*"<>&|*_~`!@#^ \n", "<!channel>", "<@U0EVIL>", "é", "😀", "a" * 40, "Z", "9"]),
    max_size=300,
).map("".join)


# Data Slack hands back (a button's value, a view's metadata) and a text box's contents are never rendered as markup.
NOT_SHOWN = {"value", "private_metadata", "initial_value"}


def texts(value: Any) -> list[str]:
    """Every string Slack renders as markup (plain_text is shown as it is: no mention or link in it works)."""
    if isinstance(value, dict):
        if value.get("type") == "plain_text":
            return []
        return [t for key, item in value.items() if key not in NOT_SHOWN for t in texts(item)]
    if isinstance(value, list):
        return [t for item in value for t in texts(item)]
    return [value] if isinstance(value, str) else []


def assert_within_limits(surface: dict[str, Any] | list[dict[str, Any]], *, view: bool) -> None:
    blocks_list = surface["blocks"] if isinstance(surface, dict) else surface
    assert len(blocks_list) <= (100 if view else 50)
    if isinstance(surface, dict):
        for key in ("title", "submit", "close"):
            if key in surface:
                assert len(surface[key]["text"]) <= 24
        assert len(surface.get("private_metadata", "")) <= 3000
    for block in blocks_list:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            accessory = block.get("accessory") or {}
            if accessory.get("type") == "button":
                assert len(accessory["value"]) <= 2000 and len(accessory["text"]["text"]) <= 75
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for element in block["elements"]:
                assert len(element.get("value", "")) <= 2000
        if block["type"] == "input":
            element = block["element"]
            assert len(block["label"]["text"]) <= 2000
            assert len(element.get("initial_value") or "") <= element.get("max_length", 3000)
            for option in element.get("options", []):
                assert len(option["text"]["text"]) <= 75 and len(option["value"]) <= 150
            assert len(element.get("options", [])) <= 100
    for shown in texts(blocks_list):
        assert "<!channel>" not in shown and "<@U0EVIL>" not in shown


def candidates(product: str, count: int) -> EmailSearch:
    return EmailSearch(
        customers=1,
        candidates=tuple(
            Candidate(
                f"sub_{n}",
                SubscriptionStatus.ACTIVE,
                product=product,
                amount="9.00",
                currency="USD",
                started=product[:40],
            )
            for n in range(count)
        ),
        more=True,
    )


@LIMITS
@given(product=HOSTILE, reason=HOSTILE.map(lambda r: r[:500]), count=st.integers(1, 140), page=st.integers(0, 40))
def test_the_pick_list_and_the_pick_form(product: str, reason: str, count: int, page: int) -> None:
    asked = picking.Asked(
        provider="kajabi", reason=reason, channel="C0456EFGH", ticket="https://t.example/" + "x" * 400
    )
    found = candidates(product, count)
    said, message = picking.answer_blocks(found, asked, label="Kajabi", email="x" * 250 + "@example.com", page=page)
    assert len(said) <= 3000
    assert_within_limits(message, view=False)
    assert_within_limits(picking.pick_form(found, asked, label="Kajabi"), view=True)


@LIMITS
@given(reason=HOSTILE, ticket=HOSTILE, subscription=HOSTILE.map(lambda s: s[:200]))
def test_the_request_form_and_the_reject_form(reason: str, ticket: str, subscription: str) -> None:
    providers = [("kajabi", "Kajabi"), ("onekey", "OneKey Payments"), ("sandbox", "Sandbox (test data)")]
    assert_within_limits(forms.request_form(providers, channel="C0456EFGH", reason=reason, ticket=ticket), view=True)
    now = datetime.now(UTC)
    request = CancellationRequest(
        id="CR-7K3M9Q2A",
        provider="kajabi",
        subscription_id=subscription or "x",
        reason=reason or "r",
        requester="U0AGENT01",
        channel="C0456EFGH",
        status=RequestStatus.PENDING,
        snapshot="{}",
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    form = blocks.reject_form(request, required=True)
    assert_within_limits(form, view=True)
    assert json.loads(json.dumps(form))["private_metadata"] == "CR-7K3M9Q2A"
