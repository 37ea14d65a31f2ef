"""Small measuring tools shared by the benchmarks: percentiles, concurrent senders, the machine."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text

from storage.database import Database

Signed = tuple[bytes, dict[str, str]]  # a request body and its signed headers, built before the clock starts


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def run_senders(total: int, senders: int, send: Callable[[int], Any]) -> tuple[list[float], float]:
    """`total` calls of `send(i)` spread over `senders` threads; returns each call's latency and the wall time.

    The senders' own garbage collector is off meanwhile, as timeit does: a full pass over the benchmark's objects
    stopped every sender for 50 to 70 ms, which showed as a latency of whatever server was being measured."""
    with _collector_paused():
        return _run_senders(total, senders, send)


@contextmanager
def _collector_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _run_senders(total: int, senders: int, send: Callable[[int], Any]) -> tuple[list[float], float]:
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    counter = iter(range(total))
    counter_lock = threading.Lock()

    def worker() -> None:
        while True:
            with counter_lock:
                i = next(counter, None)
            if i is None:
                return
            started = time.perf_counter()
            try:
                send(i)
            except BaseException as exc:  # re-raised below: a failed send must fail the benchmark
                with lock:
                    errors.append(exc)
                return
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {total} sends failed; the first: {errors[0]!r}") from errors[0]
    return latencies, time.perf_counter() - started


def poster(endpoint: str, requests: Sequence[Signed]) -> Callable[[int], None]:
    """`send(i)` POSTs requests[i] on its thread's own kept-alive connection and fails on any answer but 200.
    http.client adds little work of its own, so the figures are the server's, not the sender's."""
    url = urlsplit(endpoint)
    local = threading.local()

    def send(i: int) -> None:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=60)
        body, headers = requests[i]
        connection.request("POST", url.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")

    return send


def count_requests(database: Database, where: str) -> int:
    """How many requests match a SQL condition (the benchmarks wait on the bot's effects in the database)."""
    with database.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM cancellation_requests WHERE {where}")).scalar_one())


def serve_argv() -> list[str]:
    """`cancel-sub serve` on a free port."""
    return [sys.executable, "-m", "bot", "serve", "--port", "0"]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }
