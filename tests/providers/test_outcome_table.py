"""Each row of the README's outcome table, run against the adapter through httpx.MockTransport."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.slack import text as messages
from providers.base import SubscriptionProvider
from providers.kajabi import KajabiProvider
from providers.onekey import OneKeyProvider
from tests.providers.outcome_cases import CASES, KAJABI_CANCEL, ONEKEY, Case, case_id
from tests.support.providers import ScriptedServer, Sleeps

README = Path(__file__).resolve().parents[2] / "README.md"


def adapter(case: Case, server: ScriptedServer, sleeps: Sleeps) -> SubscriptionProvider:
    if case.provider == "kajabi":
        return KajabiProvider(
            client=server.client(),
            client_id="id-1",
            client_secret="secret-1",
            base_url="https://api.kajabi.test",
            sleep=sleeps,
        )
    return OneKeyProvider(
        client=server.client(),
        api_key="login-1",
        api_signature="sig-secret",
        base_url="https://api-stg.onekey.test",
        sleep=sleeps,
    )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_each_answer_becomes_its_outcome(case: Case) -> None:
    server, sleeps = ScriptedServer(), Sleeps()
    case.script(server)
    provider = adapter(case, server, sleeps)
    subscription_id = "2150820" if case.provider == "kajabi" else "219"

    result = provider.cancel(subscription_id)

    assert result.outcome is case.outcome, result.detail
    assert result.retry_safe is case.retry_safe
    path = KAJABI_CANCEL if case.provider == "kajabi" else ONEKEY
    method = "POST" if case.provider == "kajabi" else "DELETE"
    assert len(server.calls(method, path)) == case.cancel_calls
    assert "<" not in result.detail  # provider HTML never reaches people
    assert "secret" not in result.detail and "tok-" not in result.detail


def readme_rows() -> set[tuple[str, str, str]]:
    rows = set()
    for line in README.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] in ("Kajabi", "OneKey"):
            rows.add((cells[0].lower(), cells[1], cells[2]))
    return rows


def test_the_readme_table_lists_exactly_the_tested_answers() -> None:
    tested = {(c.provider, c.answer, c.outcome.value) for c in CASES}
    assert readme_rows() == tested


def test_every_outcome_has_words_for_people() -> None:
    for case in CASES:
        assert messages.outcome_words(case.outcome.value, retry_safe=case.retry_safe)
