#!/usr/bin/env python3
"""The entry points a newcomer needs: `python3 tasks.py demo`, `python3 tasks.py test` (and `bench`).

Each creates `.venv` when missing, installs the project (again only when pyproject.toml changed), then runs.
Only the standard library is used here, so it works on a fresh machine with Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed-from"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs under whatever python3 a newcomer has
        sys.exit(f"cancel-sub needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    print("installing cancel-sub and its test tools into .venv …", flush=True)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True, cwd=ROOT)
    subprocess.run([*pip, "install", "-e", ".[dev]"], check=True, cwd=ROOT)
    STAMP.write_text(wanted)


# The PostgreSQL tests use this database when it answers and TEST_DATABASE_URL names no other.
LOCAL_POSTGRESQL = ("127.0.0.1", 5432)
LOCAL_TEST_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def run(*args: str) -> int:
    return subprocess.run([str(PYTHON), *args], cwd=ROOT).returncode


def find_postgresql() -> None:
    if os.environ.get("TEST_DATABASE_URL"):
        return
    try:
        socket.create_connection(LOCAL_POSTGRESQL, timeout=1).close()
    except OSError:
        print("PostgreSQL is not reachable on 127.0.0.1:5432: its tests will be skipped (they say so)", flush=True)
        return
    os.environ["TEST_DATABASE_URL"] = LOCAL_TEST_DATABASE_URL
    print(f"PostgreSQL tests run against {LOCAL_TEST_DATABASE_URL}", flush=True)


def main(argv: list[str]) -> int:
    task = argv[0] if argv else ""
    if task not in {"demo", "test", "bench"}:
        print("usage: python3 tasks.py demo | test [pytest arguments] | bench [--quick]", file=sys.stderr)
        return 2
    ensure_environment()
    if task == "demo":
        return run("-m", "bot", "demo")
    if task == "bench":
        return run("-m", "bench", *argv[1:])
    find_postgresql()
    for step in (["-m", "ruff", "check", "."], ["-m", "mypy"]):
        code = run(*step)
        if code:
            return code
    return run("-m", "pytest", *argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
