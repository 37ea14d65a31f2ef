"""Slash-command ack latency over real HTTP: `cancel-sub serve` beside a bare Bolt app on the same server."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.measure import run_senders, summary_ms
from bot.local.fake_slack import FakeSlack
from bot.local.process import BotProcess
from storage import migrate, roles
from storage.database import Database
from storage.models import Role

SECRET = "bench-signing-secret"
AGENT = "U0BENCH001"
ROOT = Path(__file__).resolve().parents[1]


def _env(slack: FakeSlack, database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.base_url,
        "SANDBOX_PROVIDER": "true",
        "LOG_LEVEL": "WARNING",
        # One benchmark user makes thousands of requests: lift the velocity limit so each takes the full path.
        "MAX_REQUESTS_PER_USER_PER_DAY": "1000000",
        "PYTHONPATH": str(ROOT),
    }


def _measure(bot: BotProcess, *, total: int, senders: int, text_typed: str) -> dict[str, Any]:
    local = threading.local()

    def send(_i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30)
        body = bot.driver.command_body(text_typed, user=AGENT)
        response = client.post(bot.driver.endpoint, content=body.encode(), headers=bot.driver.signed_headers(body))
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

    run_senders(min(100, total), senders, send)  # warm-up: connections, imports, caches
    latencies, wall = run_senders(total, senders, send)
    return {**summary_ms(latencies), "requests": total, "requests_per_s": round(total / wall, 1)}


def run(workdir: Path, *, total: int = 2000, levels: tuple[int, ...] = (1, 10, 50)) -> dict[str, Any]:
    database_url = f"sqlite:///{workdir / 'ack.db'}"
    database = Database(database_url)
    migrate.upgrade(database.engine)
    with database.session() as session:
        roles.grant(session, user_id=AGENT, role=Role.REQUESTER, actor="cli:bench")
    slack = FakeSlack()
    slack.start()
    response_base = slack.base_url.removesuffix("/api/")
    env = _env(slack, database_url)
    bot = BotProcess(env=env, cwd=workdir, signing_secret=SECRET, response_base=response_base)
    floor = BotProcess(
        env=env,
        cwd=workdir,
        signing_secret=SECRET,
        response_base=response_base,
        argv=[sys.executable, "-m", "bench.bare_bolt"],
    )
    try:
        time.sleep(1)
        rss_idle = bot.rss_bytes()
        rows = []
        for senders in levels:
            floor_figures = _measure(floor, total=total, senders=senders, text_typed="help")
            bot_figures = _measure(bot, total=total, senders=senders, text_typed="sandbox sb_1001 benchmark request")
            rows.append(
                {
                    "senders": senders,
                    "floor": floor_figures,
                    "cancel_sub": bot_figures,
                    "ratio_p50": round(bot_figures["p50_ms"] / floor_figures["p50_ms"], 2),
                    "ratio_p99": round(bot_figures["p99_ms"] / floor_figures["p99_ms"], 2),
                }
            )
        expected = (min(100, total) + total) * len(levels)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _requests(database) < expected:
            time.sleep(0.2)  # let the work after each ack (lookup, card) finish before reading memory
        return {
            "levels": rows,
            "rss_idle_mb": round(rss_idle / 2**20, 1),
            "rss_after_mb": round(bot.rss_bytes() / 2**20, 1),
            "requests_stored": _requests(database),
        }
    finally:
        bot.close()
        floor.close()
        slack.stop()
        database.dispose()


def _requests(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM cancellation_requests")).scalar_one())
