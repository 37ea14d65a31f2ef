"""Build the enabled providers from plain settings values, and find one by the name a user typed."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import httpx

from providers.base import SubscriptionProvider, UnknownProvider
from providers.kajabi import KajabiProvider
from providers.onekey import OneKeyProvider
from providers.sandbox import SandboxProvider


@dataclass(frozen=True)
class ProviderConfig:
    """What the registry needs, without depending on the bot's Settings (imports point one way)."""

    kajabi_client_id: str = ""
    kajabi_client_secret: str = ""
    kajabi_base_url: str = "https://api.kajabi.com"
    kajabi_site_id: str = ""  # Kajabi's customer search needs the site
    onekey_api_key: str = ""
    onekey_api_signature: str = ""
    onekey_base_url: str = "https://api-stg.onekeypayments.com"
    onekey_auth_prefix: str = "OKP"
    onekey_send_empty_json: bool = False
    sandbox: bool = False
    timeout_seconds: float = 10.0

    def __repr__(self) -> str:
        return "ProviderConfig(…)"


def http_client(timeout_seconds: float, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """Explicit timeouts: a short connect (nothing sent yet), a longer read (the provider is working)."""
    # httpx logs each request's whole URL at INFO, and a search's URL holds the customer's email, which must
    # never reach a log: only its warnings are let through.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    timeout = httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds))
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=20)
    return httpx.Client(timeout=timeout, limits=limits, transport=transport, follow_redirects=False)


class Registry(Mapping[str, SubscriptionProvider]):
    def __init__(self, providers: Mapping[str, SubscriptionProvider]) -> None:
        self._providers = dict(providers)

    def __getitem__(self, name: str) -> SubscriptionProvider:
        return self._providers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def get_provider(self, name: str) -> SubscriptionProvider:
        provider = self._providers.get(name.strip().lower())
        if provider is None:
            raise UnknownProvider(f"{_shown(name)!r} is not an enabled provider; {self.describe_enabled()}")
        return provider

    def describe_enabled(self) -> str:
        if not self._providers:
            return "no provider is enabled (set a provider's credentials, or SANDBOX_PROVIDER=true)"
        return "enabled: " + ", ".join(sorted(self._providers))


def build_registry(config: ProviderConfig, *, transport: httpx.BaseTransport | None = None) -> Registry:
    providers: dict[str, SubscriptionProvider] = {}
    if config.kajabi_client_id and config.kajabi_client_secret:
        providers["kajabi"] = KajabiProvider(
            client=http_client(config.timeout_seconds, transport),
            client_id=config.kajabi_client_id,
            client_secret=config.kajabi_client_secret,
            base_url=config.kajabi_base_url,
            site_id=config.kajabi_site_id,
        )
    if config.onekey_api_key and config.onekey_api_signature:
        providers["onekey"] = OneKeyProvider(
            client=http_client(config.timeout_seconds, transport),
            api_key=config.onekey_api_key,
            api_signature=config.onekey_api_signature,
            base_url=config.onekey_base_url,
            auth_prefix=config.onekey_auth_prefix,
            send_empty_json=config.onekey_send_empty_json,
        )
    if config.sandbox:
        providers["sandbox"] = SandboxProvider()
    return Registry(providers)


def _shown(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[:limit] + "…"
