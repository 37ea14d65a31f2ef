"""The sandbox behaves like the documented APIs; the registry enables what is configured."""

from __future__ import annotations

import pytest

from providers.base import InvalidSubscriptionId, Outcome, SubscriptionProvider, SubscriptionStatus, UnknownProvider
from providers.registry import ProviderConfig, build_registry
from providers.sandbox import SandboxProvider


def sandbox() -> SandboxProvider:
    return SandboxProvider(sleep=lambda _s: None)


def test_active_subscription_cancels_once_then_is_already_cancelled() -> None:
    provider = sandbox()
    assert provider.lookup("sb_1001").snapshot.status is SubscriptionStatus.ACTIVE  # type: ignore[union-attr]
    assert provider.cancel("sb_1001").outcome is Outcome.CANCELLED
    assert provider.cancel("sb_1001").outcome is Outcome.ALREADY_CANCELLED
    assert provider.lookup("sb_1001").snapshot.status is SubscriptionStatus.CANCELLED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sub", "outcome"),
    [("sb_2001", Outcome.ALREADY_CANCELLED), ("sb_3001", Outcome.NOT_CANCELLABLE), ("sb_9999", Outcome.NOT_FOUND)],
)
def test_documented_behaviours(sub: str, outcome: Outcome) -> None:
    assert sandbox().cancel(sub).outcome is outcome


def test_a_failure_then_success() -> None:
    provider = sandbox()
    first = provider.cancel("sb_5001")
    assert first.outcome is Outcome.PROVIDER_ERROR and first.retry_safe
    assert provider.cancel("sb_5001").outcome is Outcome.CANCELLED


def test_a_lost_answer_still_cancels() -> None:
    provider = sandbox()
    assert provider.cancel("sb_6001").outcome is Outcome.UNKNOWN
    assert provider.lookup("sb_6001").snapshot.status is SubscriptionStatus.CANCELLED  # type: ignore[union-attr]


def test_slow_ids_sleep() -> None:
    slept: list[float] = []
    provider = SandboxProvider(slow_seconds=1.5, sleep=slept.append)
    provider.lookup("sb_4001")
    provider.cancel("sb_4001")
    assert slept == [1.5, 1.5]


def test_sandbox_ids_are_validated() -> None:
    with pytest.raises(InvalidSubscriptionId):
        sandbox().cancel("../x")


def test_registry_builds_what_is_configured_and_names_the_rest() -> None:
    registry = build_registry(ProviderConfig(kajabi_client_id="a", kajabi_client_secret="b", sandbox=True))
    assert sorted(registry) == ["kajabi", "sandbox"]
    assert registry.get_provider(" Kajabi ").name == "kajabi"
    for provider in registry.values():
        assert isinstance(provider, SubscriptionProvider)
    with pytest.raises(UnknownProvider, match="enabled: kajabi, sandbox"):
        registry.get_provider("onekey")
    empty = build_registry(ProviderConfig())
    with pytest.raises(UnknownProvider, match="no provider is enabled"):
        empty.get_provider("sandbox")


def test_registry_http_clients_have_explicit_timeouts() -> None:
    registry = build_registry(ProviderConfig(onekey_api_key="k", onekey_api_signature="s", timeout_seconds=7))
    client = registry["onekey"]._client  # type: ignore[attr-defined]
    assert client.timeout.read == 7 and client.timeout.connect == 5
