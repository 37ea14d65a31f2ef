"""`cancel-sub run` as a real process, connected to the Socket Mode stand-in and the fake Web API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.demo.driver import SlackDriver
from bot.demo.fake_slack import FakeSlack
from storage import migrate, roles
from storage.database import Database
from storage.models import Role
from tests.support.socket_mode import Delivery, Link, SocketModeStandIn

AGENT, APPROVER, ADMIN = "U0AGENT01", "U0APPROV1", "U0ADMIN01"
CHANNEL = "C0456EFGH"


class SocketBot:
    """One bot over Socket Mode; `command`, `click` and `open_home` send envelopes and return their ids."""

    def __init__(self, workdir: Path, *, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.slack = FakeSlack()
        self.slack.start()
        self.socket = SocketModeStandIn()
        self.slack.socket_mode_url = self.socket.url_for_app
        self.database_url = f"sqlite:///{workdir / 'socket.db'}"
        database = Database(self.database_url)
        migrate.upgrade(database.engine)
        with database.write() as db:
            for user, role in ((AGENT, Role.REQUESTER), (APPROVER, Role.APPROVER), (ADMIN, Role.ADMIN)):
                roles.grant(db, user_id=user, role=role, actor="cli:test")
        database.dispose()
        self.database = Database(self.database_url)
        port = self.slack.base_url.split(":")[2].split("/")[0]
        self.driver = SlackDriver(endpoint="unused", signing_secret="unused", response_base=f"http://127.0.0.1:{port}")
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KAJABI_", "ONEKEY_"))}
        environment.update(
            {
                "SLACK_BOT_TOKEN": "xoxb-socket-test",
                "SLACK_APP_TOKEN": "xapp-socket-test",
                "SLACK_API_URL": self.slack.base_url,
                "DATABASE_URL": self.database_url,
                "SANDBOX_PROVIDER": "true",
                **(env or {}),
            }
        )
        self.log_path = workdir / f"socket-bot-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=workdir,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.link = self.wait_for_link()

    def wait_for_link(self, *, after: int = 0, timeout: float = 60.0) -> Link:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.socket.wait_for_link(after=after, timeout=min(1.0, max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the bot exited with {self.process.returncode}:\n{self.log()}") from None
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"the bot did not connect:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text()

    # -- envelopes ----------------------------------------------------------------------------------------------

    def command(self, text: str, *, user: str = AGENT, link: Link | None = None, trigger_id: str | None = None) -> str:
        payload = self.driver.command_payload(text, user=user, channel=CHANNEL, trigger_id=trigger_id)
        return self.socket.send("slash_commands", payload, link=link)

    def click(self, action_id: str, value: str, *, user: str = APPROVER, link: Link | None = None) -> str:
        return self.socket.send("interactive", self.driver.click_payload(action_id, value, user=user), link=link)

    def open_home(self, user: str, *, link: Link | None = None, event_id: str = "Ev0001") -> str:
        payload = self.driver.home_opened_payload(user, event_id=event_id)
        return self.socket.send("events_api", payload, link=link)

    def acked(self, envelope_id: str, timeout: float = 10.0) -> Delivery:
        return self.socket.wait_acked(envelope_id, timeout=timeout)

    # -- what Slack and the database show -----------------------------------------------------------------------

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}\n{self.log()[-4000:]}")

    def cards(self) -> list[Any]:
        return [m for m in self.slack.channel_messages(CHANNEL) if any(b.get("type") == "actions" for b in m.blocks)]

    def rows(self, sql: str) -> list[Any]:
        with self.database.engine.connect() as connection:
            return list(connection.exec_driver_sql(sql).all())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        self.socket.stop()
        self.slack.stop()
        self.database.dispose()
