"""The whole bot on this machine: a fake Slack, the real HTTP endpoint on 127.0.0.1, and a signed-request driver."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from bot.config import Settings, load_settings
from bot.core import reads, upkeep
from bot.demo.driver import SlackDriver
from bot.demo.fake_slack import FakeSlack
from bot.runtime.periodic import Periodic
from bot.runtime.server import HttpServer, SlackWsgi
from bot.runtime.services import Services, build_services
from bot.slack.app import build_app
from providers.registry import Registry
from storage.models import CancellationRequest


class LocalStack:
    def __init__(self, database_url: str, *, registry: Registry | None = None, **settings: Any) -> None:
        self.slack = FakeSlack()
        self.slack.start()
        self.signing_secret = secrets.token_hex(16)
        options: dict[str, Any] = {
            "slack_bot_token": "xoxb-local",
            "slack_signing_secret": self.signing_secret,
            "slack_api_url": self.slack.base_url,
            "database_url": database_url,
            "sandbox_provider": True,
            "log_level": "ERROR",
        }
        options.update(settings)
        # Only these values (and the defaults): nothing from this machine's environment or .env.
        self.settings: Settings = load_settings({k.upper(): str(v) for k, v in options.items()}, dotenv_path=None)
        self.services: Services = build_services(self.settings, registry=registry)
        self.server = HttpServer(
            SlackWsgi(build_app(self.services), self.services.database, signing_secret=self.signing_secret)
        ).start()
        # Alive, as a running bot is (no sweep here: tests and the demo run theirs when they mean to).
        interval = self.settings.heartbeat_seconds
        self.heartbeat = Periodic("heartbeat", interval, lambda: upkeep.beat(self.services.core)).start()
        self.driver = SlackDriver(
            endpoint=f"{self.server.url}/slack/events",
            signing_secret=self.signing_secret,
            response_base=self.slack.base_url.removesuffix("/api/"),
        )

    def close(self) -> None:
        self.heartbeat.stop()
        self.driver.close()
        self.server.close()
        self.services.provider_work.drain(timeout=10)
        self.services.pool.drain(timeout=10)
        self.services.slack_pool.drain(timeout=10)
        self.services.form_pool.drain(timeout=10)
        self.services.provider_pools.shutdown()
        self.slack.stop()
        self.services.database.dispose()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, request_id: str) -> CancellationRequest:
        found = reads.request(self.services.core, request_id)
        assert found is not None, f"no request {request_id}"
        return found

    def wait_until(self, condition: Callable[[], bool], *, timeout: float = 15.0, what: str = "condition") -> None:
        """Listeners finish after Slack is acknowledged; wait for the effect, not for a fixed time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.01)
        raise TimeoutError(f"timed out waiting for {what}")

    def wait_status(self, request_id: str, *statuses: str, timeout: float = 15.0) -> CancellationRequest:
        self.wait_until(
            lambda: self.request(request_id).status in statuses,
            timeout=timeout,
            what=f"{request_id} to be {' or '.join(statuses)}",
        )
        return self.request(request_id)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no listener, worker or Slack update is in flight."""
        services = self.services
        pools = (services.pool, services.provider_work, services.form_pool, services.slack_pool)
        # Work hands its Slack updates over before it ends: once it is idle, what it handed over is counted.
        self.wait_until(
            lambda: all(pool.busy == 0 for pool in pools),
            timeout=timeout,
            what="in-flight work to finish",
        )

    def latest_request_id(self, channel: str) -> str:
        """The request id on the newest card in `channel` (read from its buttons)."""
        for block in self.slack.channel_messages(channel)[-1].blocks:
            if block.get("type") == "actions":
                return str(block["elements"][0]["value"])
        raise AssertionError("the newest card has no buttons")
