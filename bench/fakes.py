"""The fake Slack and fake OneKey in a process of their own, so serving the bot's calls never slows the senders.

`python -m bench.fakes N` serves both (OneKey knows subscriptions 1..N), prints their URLs as one JSON line, then
answers one command per line on standard input: `delay SECONDS`, `deletes`, `slack_calls`, `stop`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.demo.fake_slack import FakeSlack
from tests.support.fake_onekey import DeleteBehaviour, FakeOneKey
from tests.support.process import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]


class FakesProcess:
    """The benchmark's handle on the child: where the fakes listen, the provider's delay, the cancels seen."""

    def __init__(self, *, onekey_ids: int = 0) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.fakes", str(onekey_ids)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started = json.loads(self._readline())
        self.slack_url: str = started["slack"]
        self.onekey_url: str = started["onekey"]

    @property
    def response_base(self) -> str:
        return self.slack_url.removesuffix("/api/")

    def _readline(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fakes process ended (exit {self._process.poll()})")
        return line

    def _ask(self, command: str) -> str:
        assert self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self._readline().strip()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self._process.pid)

    def set_provider_delay(self, seconds: float) -> None:
        self._ask(f"delay {seconds}")

    def provider_cancels(self) -> int:
        return int(self._ask("deletes"))

    def slack_calls(self) -> int:
        return int(self._ask("slack_calls"))

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._ask("stop")
                self._process.wait(timeout=10)
            except (OSError, RuntimeError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait(timeout=10)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()


def main(argv: list[str]) -> int:
    slack = FakeSlack()
    slack.start()
    onekey = FakeOneKey(active_ids=list(range(1, int(argv[0]) + 1 if argv else 1)))
    print(json.dumps({"slack": slack.base_url, "onekey": onekey.url}), flush=True)
    try:
        for line in sys.stdin:
            command, *args = line.split()
            if command == "delay":
                onekey.delete_behaviour = DeleteBehaviour(delay=float(args[0]))
                answer = "ok"
            elif command == "deletes":
                answer = str(len(onekey.deletes))
            elif command == "slack_calls":
                answer = str(len(slack.calls))
            elif command == "stop":
                print("ok", flush=True)
                break
            else:
                answer = f"unknown command {command!r}"
            print(answer, flush=True)
    finally:
        onekey.stop()
        slack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
