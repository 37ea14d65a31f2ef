#!/usr/bin/env python3
"""The entry points a newcomer needs: `python3 tasks.py demo`, `python3 tasks.py test` (and `bench`).

Each creates `.venv` when missing, installs the project (again only when pyproject.toml changed), then runs.
Only the standard library is used here, so it works on a fresh machine with Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
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


def run(*args: str) -> int:
    return subprocess.run([str(PYTHON), *args], cwd=ROOT).returncode


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
    for step in (["-m", "ruff", "check", "."], ["-m", "mypy"]):
        code = run(*step)
        if code:
            return code
    return run("-m", "pytest", *argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
