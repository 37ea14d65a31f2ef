"""Slash-command ack latency over real HTTP: `cancel-sub serve` beside a bare Bolt app on the same server."""

from __future__ import annotations

import itertools
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.fakes import FakesProcess
from bench.measure import Signed, count_requests, poster, run_senders, serve_argv, summary_ms
from storage import migrate, roles
from storage.database import Database
from storage.models import Role
from tests.support.process import BotProcess

SECRET = "bench-signing-secret"
AGENT = "U0BENCH001"
ROOT = Path(__file__).resolve().parents[1]
_NUMBERS = itertools.count(1)


def _env(fakes: FakesProcess, database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fakes.slack_url,
        "SANDBOX_PROVIDER": "true",
        "LOG_LEVEL": "WARNING",
        # A burst far beyond a team's: this measures the pipeline, not the bulkheads (`--only faults` does),
        # so no one is told "busy" and no Slack update is left to the sweep.
        "QUEUE_LIMIT": "100000",
        # One benchmark user makes thousands of requests: lift the velocity limit so each takes the full path.
        "MAX_REQUESTS_PER_USER_PER_DAY": "1000000",
        "PYTHONPATH": str(ROOT),
    }


def _measure(bot: BotProcess, *, total: int, senders: int, text_typed: str) -> dict[str, Any]:
    """`text_typed` may hold `{n}`: each command gets a number of its own (one open request per subscription)."""

    def signed(count: int) -> list[Signed]:
        bodies = [bot.driver.command_body(text_typed.format(n=next(_NUMBERS)), user=AGENT) for _ in range(count)]
        return [(body.encode(), bot.driver.signed_headers(body)) for body in bodies]

    warm_up = min(100, total)
    run_senders(warm_up, senders, poster(bot.driver.endpoint, signed(warm_up)))  # connections, imports, caches
    latencies, wall = run_senders(total, senders, poster(bot.driver.endpoint, signed(total)))
    return {**summary_ms(latencies), "requests": total, "requests_per_s": round(total / wall, 1)}


def run(workdir: Path, *, total: int = 2000, levels: tuple[int, ...] = (1, 10, 50)) -> dict[str, Any]:
    database_url = f"sqlite:///{workdir / 'ack.db'}"
    database = Database(database_url)
    migrate.upgrade(database.engine)
    with database.write() as db:
        roles.grant(db, user_id=AGENT, role=Role.REQUESTER, actor="cli:bench")
    with ExitStack() as stack:
        stack.callback(database.dispose)
        fakes = FakesProcess()
        stack.callback(fakes.close)
        env = _env(fakes, database_url)

        def start(argv: list[str] | None = None) -> BotProcess:
            process = BotProcess(
                env=env, cwd=workdir, signing_secret=SECRET, response_base=fakes.response_base, argv=argv
            )
            stack.callback(process.close)
            return process

        bot = start(serve_argv())
        floor = start([sys.executable, "-m", "bench.bare_bolt"])
        # Bolt answering from the request's thread, as cancel-sub does: the floor without Bolt's 10 ms ack polling.
        floor_in_thread = start([sys.executable, "-m", "bench.bare_bolt", "--in-request-thread"])
        time.sleep(1)
        rss_idle, pss_idle = bot.rss_bytes(), bot.pss_bytes()
        cpu_before = bot.cpu_seconds()
        rows = []
        sent = 0
        for senders in levels:
            floor_figures = _measure(floor, total=total, senders=senders, text_typed="help")
            in_thread = _measure(floor_in_thread, total=total, senders=senders, text_typed="help")
            bot_figures = _measure(
                bot, total=total, senders=senders, text_typed="sandbox sb_many_{n} benchmark request"
            )
            sent += min(100, total) + total
            # The acks outrun the work after them (lookup, request, card); let the bot finish before the next
            # level, so the floors are never measured beside the bot's leftover work.
            bot_figures["work_done_after_last_ack_s"] = _until_cards_posted(database, sent)
            rows.append(
                {
                    "senders": senders,
                    "floor": floor_figures,
                    "floor_in_request_thread": in_thread,
                    "cancel_sub": bot_figures,
                    "ratio_p50": round(bot_figures["p50_ms"] / floor_figures["p50_ms"], 2),
                    "ratio_p99": round(bot_figures["p99_ms"] / floor_figures["p99_ms"], 2),
                    "ratio_in_thread_p50": round(bot_figures["p50_ms"] / in_thread["p50_ms"], 2),
                    "ratio_in_thread_p99": round(bot_figures["p99_ms"] / in_thread["p99_ms"], 2),
                }
            )
        posted = count_requests(database, "card_ts IS NOT NULL")
        return {
            "levels": rows,
            # Everything the bot did per command: the ack and the work after it (lookup, request, card, thread).
            "bot_cpu_ms_per_command": round((bot.cpu_seconds() - cpu_before) * 1000 / max(1, posted), 2),
            "rss_idle_mb": round(rss_idle / 2**20, 1),
            "rss_after_mb": round(bot.rss_bytes() / 2**20, 1),
            "pss_idle_mb": round(pss_idle / 2**20, 1),
            "pss_after_mb": round(bot.pss_bytes() / 2**20, 1),
            "cards_posted": posted,
        }


def _until_cards_posted(database: Database, expected: int, timeout: float = 300) -> float:
    """Seconds until `expected` request cards are posted in all."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while count_requests(database, "card_ts IS NOT NULL") < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bot posted fewer than {expected} cards in {timeout:.0f} s")
        time.sleep(0.05)
    return round(time.perf_counter() - started, 2)
