"""The command line as an admin uses it: real processes, a real SQLite file, and sqlite3 to tamper."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KAJABI_", "ONEKEY_"))}
    environment.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "USER": "auditor"})
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_grant_list_verify_and_tamper(tmp_path: Path) -> None:
    granted = cli(tmp_path, "roles", "grant", "U123ABC", "approver")
    assert granted.returncode == 0, granted.stderr
    listed = cli(tmp_path, "roles", "list")
    assert "U123ABC" in listed.stdout and "approver" in listed.stdout
    assert cli(tmp_path, "audit", "verify").returncode == 0

    with sqlite3.connect(tmp_path / "cli.db") as connection:
        connection.execute('UPDATE audit_events SET detail = \'{"role":"admin","user_id":"U123ABC"}\'')
    tampered = cli(tmp_path, "audit", "verify")
    assert tampered.returncode == 1
    assert "event 1" in tampered.stderr and "Traceback" not in tampered.stderr


def test_role_changes_from_the_cli_are_audited_with_the_os_user(tmp_path: Path) -> None:
    cli(tmp_path, "roles", "grant", "U0ADMIN01", "admin")
    cli(tmp_path, "roles", "grant", "U0APPROV1", "approver")
    cli(tmp_path, "roles", "revoke", "U0APPROV1", "approver")
    exported = cli(tmp_path, "audit", "export", "--format", "jsonl")
    events = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(e["action"], e["actor"], e["detail"]["user_id"]) for e in events] == [
        ("role.granted", "cli:auditor", "U0ADMIN01"),
        ("role.granted", "cli:auditor", "U0APPROV1"),
        ("role.revoked", "cli:auditor", "U0APPROV1"),
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("roles", "grant", "bob", "approver"), "looks like U012AB3CD"),
        (("roles", "grant", "U123ABC", "owner"), "requester, approver, admin"),
        (("roles", "revoke", "u123abc", "admin"), "looks like U012AB3CD"),
        (("audit", "export", "--since", "last tuesday"), "is not a date"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr


def test_removing_the_last_admin_is_refused(tmp_path: Path) -> None:
    cli(tmp_path, "roles", "grant", "U0ADMIN01", "admin")
    result = cli(tmp_path, "roles", "revoke", "U0ADMIN01", "admin")
    assert result.returncode == 2 and "last admin" in result.stderr


def test_bad_settings_exit_2_listing_every_problem(tmp_path: Path) -> None:
    result = cli(tmp_path, "roles", "list", env={"REQUEST_TTL_MINUTES": "-1", "KAJABI_CLIENT_SECRET": "s3cr3t-value"})
    assert result.returncode == 2
    assert "REQUEST_TTL_MINUTES" in result.stderr and "KAJABI_CLIENT_ID" in result.stderr
    assert "s3cr3t-value" not in result.stderr and "Traceback" not in result.stderr


def test_export_csv_to_a_file_since_a_date(tmp_path: Path) -> None:
    cli(tmp_path, "roles", "grant", "U0ADMIN01", "admin")
    out = tmp_path / "audit.csv"
    result = cli(tmp_path, "audit", "export", "--format", "csv", "--since", "2000-01-01", "--output", str(out))
    assert result.returncode == 0 and "wrote 1 events" in result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[0]["action"] == "role.granted" and rows[0]["actor"] == "cli:auditor"
    future = cli(tmp_path, "audit", "export", "--since", "2999-01-01")
    assert list(csv.DictReader(io.StringIO(future.stdout))) == []


def test_db_upgrade_reports_the_revision(tmp_path: Path) -> None:
    first = cli(tmp_path, "db", "upgrade")
    assert first.returncode == 0 and "was empty" in first.stdout
    again = cli(tmp_path, "db", "upgrade")
    assert again.returncode == 0 and "was" not in again.stdout


def test_console_script_and_module_agree(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("cancel-sub")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "roles" in result.stdout and "audit" in result.stdout


@pytest.mark.parametrize(("command", "needs"), [("run", "SLACK_APP_TOKEN"), ("serve", "SLACK_SIGNING_SECRET")])
def test_running_without_tokens_says_which_are_missing(tmp_path: Path, command: str, needs: str) -> None:
    result = cli(tmp_path, command)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is required" in result.stderr and needs in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (("roles", "list"), {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "could not be used"),
        (("audit", "verify"), {"DATABASE_URL": "sqlite:////no/such/folder/x.db"}, "could not be used"),
        (("audit", "export", "--output", "missing/folder/audit.csv"), None, "No such file or directory"),
        (("serve", "--port", "99999"), None, "99999 is not a port"),
    ],
)
def test_failures_are_one_line_and_a_non_zero_exit(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str] | None, says: str
) -> None:
    done = cli(tmp_path, *args, env=env)
    assert done.returncode != 0 and says in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 3  # argparse adds its usage


def test_an_anchors_file_from_export_catches_a_full_rewrite(tmp_path: Path) -> None:
    from storage.database import Database
    from tests.storage.test_chain import rewrite_from

    cli(tmp_path, "roles", "grant", "U0ADMIN01", "admin")
    cli(tmp_path, "roles", "grant", "U0APPROV1", "approver")
    kept = tmp_path / "kept" / "anchors.jsonl"
    kept.parent.mkdir()
    exported = cli(tmp_path, "audit", "export", "--output", str(tmp_path / "audit.csv"), "--anchors", str(kept))
    assert exported.returncode == 0 and f"anchored event 2 in {kept}" in exported.stderr
    assert json.loads(kept.read_text())["sequence"] == 2
    assert cli(tmp_path, "audit", "verify", "--anchors", str(kept)).returncode == 0

    database = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    rewrite_from(database, 1, '{"role":"admin","user_id":"U0MALLORY"}')
    database.dispose()
    assert cli(tmp_path, "audit", "verify").returncode == 0  # self-consistent: only the anchor knows
    caught = cli(tmp_path, "audit", "verify", "--anchors", str(kept))
    assert caught.returncode == 1
    assert f"anchored by {kept} line 1 (the chain was rewritten)" in caught.stderr


def test_a_bad_anchors_file_is_named_with_its_line(tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    anchors.write_text('{"sequence": 1, "hash": "' + "0" * 64 + '"}\n\nnot json\n')
    result = cli(tmp_path, "audit", "verify", "--anchors", str(anchors))
    assert result.returncode == 2 and f"{anchors} line 3 is not an anchor" in result.stderr
    missing = cli(tmp_path, "audit", "verify", "--anchors", str(tmp_path / "nowhere.jsonl"))
    assert missing.returncode == 1 and "No such file" in missing.stderr and "Traceback" not in missing.stderr
