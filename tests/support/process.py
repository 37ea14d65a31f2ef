"""Real `cancel-sub serve` processes for tests and benchmarks: started, signalled, killed, and read back."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.demo.driver import SlackDriver

LISTENING = re.compile(r"listening on (http://[\d.]+:\d+)")


class BotProcess:
    def __init__(
        self,
        *,
        env: dict[str, str],
        cwd: Path,
        signing_secret: str,
        response_base: str,
        argv: list[str] | None = None,
    ) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KAJABI_", "ONEKEY_"))}
        environment.update(env)
        self.log_path = cwd / f"bot-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w+")
        self.process = subprocess.Popen(
            argv or [sys.executable, "-m", "bot", "serve", "--port", "0"],
            cwd=cwd,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = self._wait_listening()
        self.driver = SlackDriver(
            endpoint=f"{self.url}/slack/events", signing_secret=signing_secret, response_base=response_base
        )

    def _wait_listening(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_path.read_text())
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        raise TimeoutError(f"the bot did not start:\n{self.log_path.read_text()}")

    def pids(self) -> list[int]:
        """The process and its descendants (the workers of `serve --workers N`), from /proc (Linux)."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # ended while we looked
            parents[int(stat.parent.name)] = int(fields[1])
        tree = [self.process.pid]
        for pid in tree:
            tree.extend(child for child, parent in parents.items() if parent == pid)
        return tree

    def rss_bytes(self) -> int:
        """Resident memory of the process and its workers, from /proc (Linux)."""
        return self._kibibytes("status", "VmRSS:") * 1024

    def pss_bytes(self) -> int:
        """Proportional memory of the process and its workers: pages they share (forked workers share most)
        counted once, from /proc/PID/smaps_rollup (Linux 4.14+)."""
        return self._kibibytes("smaps_rollup", "Pss:") * 1024

    def _kibibytes(self, filename: str, field: str) -> int:
        total = 0
        for pid in self.pids():
            for line in _read(Path(f"/proc/{pid}/{filename}")).splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        return total

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process and its live workers have used so far, from /proc (Linux)."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def output(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL to the process and to its workers, which would otherwise outlive it for a moment."""
        tree = self.pids()
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        self.driver.close()
        if self.process.poll() is None:
            self.kill()
        self._log.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time one live process has used so far, from /proc (Linux); 0 once it has ended."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if not stat:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""  # the process ended meanwhile
