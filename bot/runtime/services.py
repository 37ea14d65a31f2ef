"""The composition root: everything the listeners and the sweep need, built once from Settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import httpx
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import Settings
from bot.core import upkeep
from bot.core.context import Core, Policy
from bot.runtime.bulkheads import ProviderPools, ProviderWork
from bot.runtime.pool import ListenerPool
from bot.slack.delivery import Delivery
from providers.registry import ProviderConfig, Registry, build_registry
from storage import migrate
from storage.database import Database

# The work after an ack (provider calls, cards, threads) may wait a little; the acks may not, so the work threads
# run at a lower CPU priority (the README's Performance section has the measurements).
WORK_NICENESS = 10
# A live worker posting a request's thread holds it this long at most (Slack's rate limits may make it sleep).
THREAD_LEASE = timedelta(minutes=2)


@dataclass
class Services:
    settings: Settings
    database: Database
    core: Core
    client: WebClient
    delivery: Delivery
    # Listeners validate and ack in the thread that received the request, then hand the rest to `pool`, so an
    # ack never waits behind earlier requests' provider calls and Slack posts.
    pool: ListenerPool
    # After a decision, showing it in Slack (card, thread, DM) runs here, so a `pool` thread goes on to the
    # provider call, and to the next approval, without waiting on Slack.
    slack_pool: ListenerPool
    # Opening a form (views.open) must happen within 3 s of the click that allows it: its own threads, so Slack
    # updates waiting out a rate limit on `slack_pool` cannot make the click's trigger expire.
    form_pool: ListenerPool
    # Each provider's calls, on a bounded pool of their own (also in `core.calls`).
    provider_pools: ProviderPools
    # The work that waits on a provider (a lookup and the request it makes, an approval and its cancel), bounded
    # per provider, so a slow provider holds up neither another provider nor `pool` (see `work_threads`).
    provider_work: ProviderWork

    @property
    def registry(self) -> Registry:
        return self.core.registry


def work_threads(provider_threads: int) -> int:
    """Threads for a provider's work: a quarter more than for its calls, so that while some run the statements
    before and after a call (an approval, its settling), the provider's calls still all run. A call that finds them
    all taken waits without using its deadline (bot.core.calls). The README's Performance section has the figures."""
    return provider_threads + max(1, provider_threads // 4)


def provider_config(settings: Settings) -> ProviderConfig:
    return ProviderConfig(
        kajabi_client_id=settings.kajabi_client_id.get_secret_value(),
        kajabi_client_secret=settings.kajabi_client_secret.get_secret_value(),
        kajabi_base_url=settings.kajabi_base_url,
        kajabi_site_id=settings.kajabi_site_id,
        onekey_api_key=settings.onekey_api_key.get_secret_value(),
        onekey_api_signature=settings.onekey_api_signature.get_secret_value(),
        onekey_base_url=settings.onekey_base_url,
        onekey_auth_prefix=settings.onekey_auth_prefix,
        onekey_send_empty_json=settings.onekey_sign_empty_json,
        sandbox=settings.sandbox_provider,
        timeout_seconds=settings.provider_timeout_seconds,
    )


def web_client(settings: Settings) -> WebClient:
    """Slack's Web API at SLACK_API_URL, retrying rate limits, 5xx and dropped connections."""
    token = settings.slack_bot_token.get_secret_value() or None
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=10, logger=web_api_logger(settings))
    client.retry_handlers.extend(
        [
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ]
    )
    return client


def web_api_logger(settings: Settings) -> logging.Logger:
    """slack_sdk's logger, at the configured level. slack_sdk writes out its debug lines (each request and
    answer in full) whenever its logger's own level is unset, even when nothing prints them: about 5 % of the
    CPU of each Web API call, and an approval makes five."""
    logger = logging.getLogger("slack_sdk.web")
    logger.setLevel(settings.log_level)
    return logger


def build_services(
    settings: Settings,
    *,
    registry: Registry | None = None,
    provider_transport: httpx.BaseTransport | None = None,
    database: Database | None = None,
) -> Services:
    database = database or Database(settings.database_url, pool_size=settings.listener_threads)
    migrate.upgrade(database.engine)
    provider_pools = ProviderPools(threads_each=settings.listener_threads, niceness=WORK_NICENESS)
    core = Core(
        database=database,
        registry=registry or build_registry(provider_config(settings), transport=provider_transport),
        policy=Policy(
            request_ttl=timedelta(minutes=settings.request_ttl_minutes),
            allow_self_approval=settings.allow_self_approval,
            max_requests_per_day=settings.max_requests_per_user_per_day,
            max_approvals_per_hour=settings.max_approvals_per_user_per_hour,
            provider_deadline=settings.provider_deadline_seconds,
        ),
        calls=provider_pools,
    )
    upkeep.beat(core)  # registered before anything it does: the cancels and thread leases it takes are its own
    return Services(
        settings=settings,
        database=database,
        core=core,
        client=web_client(settings),
        delivery=Delivery(
            core, thread_lease=THREAD_LEASE, dead_after=timedelta(seconds=settings.recover_after_seconds)
        ),
        pool=ListenerPool(
            settings.listener_threads, name="work", queue_limit=settings.queue_limit, niceness=WORK_NICENESS
        ),
        slack_pool=ListenerPool(
            settings.slack_threads, name="slack", queue_limit=settings.queue_limit, niceness=WORK_NICENESS
        ),
        form_pool=ListenerPool(settings.slack_threads, name="forms", queue_limit=settings.queue_limit),
        provider_pools=provider_pools,
        provider_work=ProviderWork(
            threads_each=work_threads(settings.listener_threads),
            queue_limit=settings.queue_limit,
            niceness=WORK_NICENESS,
        ),
    )
