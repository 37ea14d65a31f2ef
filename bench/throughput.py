"""Approval throughput: N approvals against a fake provider answering in 200 ms, through the real endpoint."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.fakes import FakesProcess
from bench.measure import count_requests, poster, run_senders, serve_argv
from bot.slack import blocks
from storage import migrate, roles
from storage.database import Database
from storage.models import Role
from tests.support.process import BotProcess

SECRET = "bench-signing-secret"
AGENT, APPROVER = "U0BENCH001", "U0BENCH002"
CHANNEL = "C0BENCH001"
# The clock stops when every request is cancelled and Slack shows it: card updated, every audit event in the
# thread, the requester told.
SHOWN = """status = 'cancelled' AND notified_status = 'cancelled' AND NOT card_dirty
    AND thread_sequence >= (SELECT max(sequence) FROM audit_events WHERE request_id = cancellation_requests.id)"""


def run(
    workdir: Path,
    *,
    approvals: int = 500,
    provider_seconds: float = 0.2,
    threads: int = 16,
    database_url: str | None = None,
) -> dict[str, Any]:
    database_url = database_url or f"sqlite:///{workdir / 'throughput.db'}"
    database = Database(database_url)
    migrate.upgrade(database.engine)
    with database.write() as db:
        roles.grant(db, user_id=AGENT, role=Role.REQUESTER, actor="cli:bench")
        roles.grant(db, user_id=APPROVER, role=Role.APPROVER, actor="cli:bench")
    fakes = FakesProcess(onekey_ids=approvals)
    bot = BotProcess(
        env={
            "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fakes.slack_url,
            "ONEKEY_API_KEY": "bench",
            "ONEKEY_API_SIGNATURE": "bench-secret",
            "ONEKEY_BASE_URL": fakes.onekey_url,
            "LISTENER_THREADS": str(threads),
            "LOG_LEVEL": "WARNING",
            # A burst far beyond a team's: this measures the pipeline, not the bulkheads (`--only faults` does),
            # so no one is told "busy" and no Slack update is left to the sweep.
            "QUEUE_LIMIT": "100000",
            # One requester and one approver do everything here: lift the velocity limits.
            "MAX_REQUESTS_PER_USER_PER_DAY": "1000000",
            "MAX_APPROVALS_PER_USER_PER_HOUR": "1000000",
        },
        cwd=workdir,
        signing_secret=SECRET,
        response_base=fakes.response_base,
        argv=serve_argv(),
    )
    try:
        run_senders(
            approvals, 8, lambda i: bot.driver.command(f"onekey {i + 1} benchmark", user=AGENT, channel=CHANNEL)
        )
        _wait(lambda: count_requests(database, "card_ts IS NOT NULL") == approvals, "the request cards")
        with database.engine.connect() as connection:
            ids = [row[0] for row in connection.execute(text("SELECT id FROM cancellation_requests"))]
        fakes.set_provider_delay(provider_seconds)
        bodies = [
            bot.driver.click_body(blocks.APPROVE, request_id, user=APPROVER, channel=CHANNEL) for request_id in ids
        ]
        clicks = [(body.encode(), bot.driver.signed_headers(body)) for body in bodies]
        cpu_before, fakes_before, senders_before = bot.cpu_seconds(), fakes.cpu_seconds(), _own_cpu_seconds()
        started = time.perf_counter()
        run_senders(len(clicks), 32, poster(bot.driver.endpoint, clicks))
        _wait(lambda: count_requests(database, SHOWN) == approvals, "every cancel, shown in Slack", timeout=600)
        wall = time.perf_counter() - started
        cpu = bot.cpu_seconds() - cpu_before
        fakes_cpu, senders_cpu = fakes.cpu_seconds() - fakes_before, _own_cpu_seconds() - senders_before
        ideal = approvals * provider_seconds / threads
        return {
            "database": database_url.split(":", 1)[0].split("+", 1)[0],
            "approvals": approvals,
            "provider_seconds": provider_seconds,
            "listener_threads": threads,
            "wall_s": round(wall, 2),
            "ideal_s": round(ideal, 2),
            "over_ideal_pct": round((wall / ideal - 1) * 100, 1),
            "provider_cancels": fakes.provider_cancels(),
            "bot_cpu_s": round(cpu, 2),
            "bot_cpu_ms_per_approval": round(cpu * 1000 / approvals, 2),
            # The fakes and the senders share the machine with the bot: their CPU is CPU the bot cannot have.
            "fakes_cpu_ms_per_approval": round(fakes_cpu * 1000 / approvals, 2),
            "senders_cpu_ms_per_approval": round(senders_cpu * 1000 / approvals, 2),
        }
    finally:
        bot.close()
        fakes.close()
        database.dispose()


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _wait(condition: Any, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")
