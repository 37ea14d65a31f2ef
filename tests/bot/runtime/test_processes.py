"""Nothing lost, nothing doubled, with real processes: SIGKILL mid-cancel, replicas, SIGTERM during a cancel."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.demo.fake_slack import FakeSlack
from bot.slack import blocks
from storage import audit, chain, migrate, requests, roles
from storage.database import Database
from storage.models import Role
from tests.bot.conftest import AGENT, APPROVER, APPROVER_2, CHANNEL
from tests.support.fake_onekey import DeleteBehaviour, FakeOneKey
from tests.support.process import BotProcess

SECRET = "test-signing-secret"


class Deployment:
    """A database, a fake Slack and a fake OneKey shared by any number of bot processes."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.slack = FakeSlack()
        self.slack.start()
        self.onekey = FakeOneKey(active_ids=[219, 220, 221])
        self.database = Database(database_url)
        migrate.upgrade(self.database.engine)
        with self.database.write() as db:
            for user, role in ((AGENT, Role.REQUESTER), (APPROVER, Role.APPROVER), (APPROVER_2, Role.APPROVER)):
                roles.grant(db, user_id=user, role=role, actor="cli:test")
        self.bots: list[BotProcess] = []

    def start_bot(self, **env: str) -> BotProcess:
        settings = {
            "DATABASE_URL": self.database_url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.slack.base_url,
            "ONEKEY_API_KEY": "merchant",
            "ONEKEY_API_SIGNATURE": "signature-secret",
            "ONEKEY_BASE_URL": self.onekey.url,
            "HEARTBEAT_SECONDS": "0.25",
            "RECOVER_AFTER_SECONDS": "1.5",
            "SWEEP_INTERVAL_SECONDS": "0.25",
            "LISTENER_THREADS": "8",
            "LOG_LEVEL": "INFO",
        }
        settings.update(env)
        bot = BotProcess(
            env=settings,
            cwd=self.workdir,
            signing_secret=SECRET,
            response_base=self.slack.base_url.removesuffix("/api/"),
            argv=[sys.executable, "-m", "bot", "serve", "--port", "0"],
        )
        self.bots.append(bot)
        return bot

    def close(self) -> None:
        for bot in self.bots:
            bot.close()
        self.onekey.stop()
        self.slack.stop()
        self.database.dispose()

    def request(self, request_id: str) -> Any:
        with self.database.write() as db:
            return requests.get(db, request_id)

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise TimeoutError(f"timed out waiting for {what}:\n" + "\n".join(b.output()[-2000:] for b in self.bots))

    def ask(self, bot: BotProcess, sub_id: int) -> str:
        before = len(self.slack.channel_messages(CHANNEL))
        bot.driver.command(f"onekey {sub_id} customer asked by email", user=AGENT, channel=CHANNEL)
        self.wait(lambda: len(self.slack.channel_messages(CHANNEL)) > before, "the card")
        card = self.slack.channel_messages(CHANNEL)[-1]
        request_id = next(b["elements"][0]["value"] for b in card.blocks if b["type"] == "actions")
        self.wait(lambda: self.request(request_id).card_ts is not None, "the card to be recorded")
        return str(request_id)

    def card_json(self, request_id: str) -> str:
        request = self.request(request_id)
        card = self.slack.card(CHANNEL, request.card_ts)
        return json.dumps(card.blocks) if card else ""

    def chain(self) -> chain.VerifyReport:
        with self.database.write() as db:
            return chain.verify(db)


@pytest.fixture
def deployment(database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    made = Deployment(database_url, tmp_path)
    yield made
    made.close()


@pytest.fixture
def sqlite_deployment(sqlite_url: str, tmp_path: Path) -> Iterator[Deployment]:
    made = Deployment(sqlite_url, tmp_path)
    yield made
    made.close()


@pytest.mark.parametrize(
    ("apply", "settles_as", "card_says"),
    [
        ("before", "cancelled", "Cancelled"),  # the provider acted, the answer died with the bot
        ("never", "unknown", "Verify"),  # the bot died before the provider acted
    ],
)
def test_a_bot_killed_mid_cancel_is_settled_on_its_next_start(
    sqlite_deployment: Deployment, apply: str, settles_as: str, card_says: str
) -> None:
    d = sqlite_deployment
    d.onekey.delete_behaviour = DeleteBehaviour(delay=60, apply=apply)
    first = d.start_bot()
    request_id = d.ask(first, 219)
    first.driver.click(blocks.APPROVE, request_id, user=APPROVER, channel=CHANNEL)
    assert d.onekey.delete_seen.wait(20), "the cancel never reached the provider"
    first.kill()
    assert d.request(request_id).status == "executing"
    time.sleep(1.7)  # older than RECOVER_AFTER_SECONDS: nobody is still waiting on it

    d.onekey.delete_behaviour = DeleteBehaviour()
    second = d.start_bot()
    d.wait(lambda: d.request(request_id).status == settles_as, f"the request to settle as {settles_as}")
    d.wait(lambda: card_says in d.card_json(request_id), "the card to show the settled state")
    thread = [m.text for m in d.slack.thread(CHANNEL, d.request(request_id).card_ts)]
    d.wait(
        lambda: any(
            "after a restart" in t for t in (m.text for m in d.slack.thread(CHANNEL, d.request(request_id).card_ts))
        ),
        "the thread line",
    )
    assert d.onekey.deletes == [219], "recovery must read, never cancel again"
    assert d.chain().ok
    assert second.process.poll() is None and thread is not None


def test_replicas_share_one_database_and_fifty_clicks_make_one_cancel(deployment: Deployment) -> None:
    d = deployment
    d.onekey.delete_behaviour = DeleteBehaviour(delay=0.3)
    replicas = [d.start_bot(), d.start_bot()]
    request_id = d.ask(replicas[0], 220)
    fifty_clicks_make_one_cancel(d, replicas, request_id, subscription=220)


def fifty_clicks_make_one_cancel(d: Deployment, bots: list[BotProcess], request_id: str, *, subscription: int) -> None:
    """Fifty approve clicks at once, spread over `bots`: one cancel, one approval event, 49 honest refusals."""
    bodies = [
        (
            bots[n % len(bots)],
            bots[n % len(bots)].driver.click_body(
                blocks.APPROVE, request_id, user=(APPROVER, APPROVER_2)[n % 2], channel=CHANNEL
            ),
        )
        for n in range(50)
    ]
    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def click(bot: BotProcess, body: str) -> None:
        barrier.wait()
        statuses.append(bot.driver.post(body).status_code)

    threads = [threading.Thread(target=click, args=pair) for pair in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 50
    d.wait(lambda: d.request(request_id).status == "cancelled", "the cancel")
    d.wait(
        lambda: len([m for m in d.slack.ephemerals() if "Too late" in m.text or "You already decided" in m.text]) == 49,
        "49 honest refusals",
    )
    assert d.onekey.deletes == [subscription]
    report = d.chain()
    assert report.ok, report.describe()
    with d.database.write() as db:
        approvals = [e for e in audit.events_for_request(db, request_id) if e.action == "request.approved"]
    assert len(approvals) == 1


def test_sigterm_lets_the_cancel_in_flight_finish_and_takes_no_new_work(sqlite_deployment: Deployment) -> None:
    d = sqlite_deployment
    d.onekey.delete_behaviour = DeleteBehaviour(delay=2, apply="after")
    bot = d.start_bot(SHUTDOWN_GRACE_SECONDS="20")
    request_id = d.ask(bot, 221)
    bot.driver.click(blocks.APPROVE, request_id, user=APPROVER, channel=CHANNEL)
    assert d.onekey.delete_seen.wait(20)
    bot.terminate()
    time.sleep(0.5)
    try:  # no new work once stopping: refused while the last answers go out, then the port is closed
        answer = httpx.get(f"{bot.url}/healthz", timeout=2)
    except httpx.TransportError:
        pass
    else:
        assert answer.status_code == 503, answer.text
    assert bot.wait(timeout=30) == 0, bot.output()
    assert d.request(request_id).status == "cancelled"
    # The cancel, and possibly the tail of the request's own work (its thread line, the requester's DM).
    assert re.search(r"waiting up to 20 s for [12] listeners in flight", bot.output()), bot.output()
    assert d.chain().ok


def test_a_cancel_outliving_the_grace_period_is_settled_by_the_next_start(sqlite_deployment: Deployment) -> None:
    d = sqlite_deployment
    d.onekey.delete_behaviour = DeleteBehaviour(delay=8, apply="before")
    bot = d.start_bot(SHUTDOWN_GRACE_SECONDS="0.5")
    request_id = d.ask(bot, 219)
    bot.driver.click(blocks.APPROVE, request_id, user=APPROVER, channel=CHANNEL)
    assert d.onekey.delete_seen.wait(20)
    bot.terminate()
    assert bot.wait(timeout=30) == 0, bot.output()
    assert d.request(request_id).status == "executing"
    assert "still running after" in bot.output()
    time.sleep(1.7)
    d.onekey.delete_behaviour = DeleteBehaviour()
    d.start_bot()
    d.wait(lambda: d.request(request_id).status == "cancelled", "recovery after the short grace")
    assert d.onekey.deletes == [219] and d.chain().ok


def test_a_live_but_slow_cancel_is_never_overtaken_while_the_other_replica_sweeps_and_slack_stalls(
    deployment: Deployment,
) -> None:
    """The cancel takes four recovery periods; the other replica sweeps all the while, and Slack stalls every card
    update and thread post of the first (the sweep used to renew the leases): still one DELETE, no recovery."""
    d = deployment
    d.onekey.delete_behaviour = DeleteBehaviour(delay=6, apply="after")
    slow, other = d.start_bot(PROVIDER_TIMEOUT_SECONDS="30"), d.start_bot()
    request_id = d.ask(slow, 220)
    d.slack.fail("chat.update", delay=2, times=1000)
    d.slack.fail("chat.postMessage", delay=2, times=1000)
    slow.driver.click(blocks.APPROVE, request_id, user=APPROVER, channel=CHANNEL)
    assert d.onekey.delete_seen.wait(20)
    d.wait(lambda: d.request(request_id).status == "cancelled", "the slow cancel to settle", timeout=40)
    d.slack.heal()
    with d.database.read() as db:
        actions = [e.action for e in audit.events_for_request(db, request_id)]
    assert "request.recovered" not in actions and actions.count("provider.answered") == 1, actions
    assert d.onekey.deletes == [220]
    assert other.process.poll() is None and d.chain().ok


def test_a_lone_bot_restarted_after_a_crash_settles_the_dead_ones_cancel_within_30_s_with_default_settings(
    deployment: Deployment,
) -> None:
    d = deployment
    d.onekey.delete_behaviour = DeleteBehaviour(delay=60, apply="before")
    defaults = {"HEARTBEAT_SECONDS": "5", "RECOVER_AFTER_SECONDS": "20", "SWEEP_INTERVAL_SECONDS": "60"}
    first = d.start_bot(**defaults)
    request_id = d.ask(first, 221)
    first.driver.click(blocks.APPROVE, request_id, user=APPROVER, channel=CHANNEL)
    assert d.onekey.delete_seen.wait(20)
    first.kill()
    d.onekey.delete_behaviour = DeleteBehaviour()
    started = time.monotonic()
    d.start_bot(**defaults)
    d.wait(lambda: d.request(request_id).status == "cancelled", "recovery of the dead bot's cancel", timeout=35)
    assert time.monotonic() - started < 30
    assert d.onekey.deletes == [221] and d.chain().ok
