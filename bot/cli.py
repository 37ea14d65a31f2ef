"""The `cancel-sub` command line: run, serve, demo, roles, audit, db."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings, SettingsError, load_settings
from bot.core.since import parse_since
from storage import audit, chain, migrate, roles
from storage.database import Database
from storage.errors import RoleError, StorageError

EXIT_USAGE = 2


class SlackUnreadable(Exception):
    """The anchors asked for could not be read: the verification cannot be trusted without them."""


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name on this system (e.g. a container without passwd entry)
        user = "unknown"
    return f"cli:{user}"


def open_database(settings: Settings) -> Database:
    """The database at the latest schema: every entry point upgrades before use."""
    database = Database(settings.database_url)
    migrate.upgrade(database.engine)
    return database


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cancel-sub",
        description="Cancel customer subscriptions from Slack with two-person approval and an audit trail.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run the bot over Socket Mode (needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN)")
    serve = commands.add_parser("serve", help="serve Slack's HTTP requests at POST /slack/events")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=3000, help="0 to 65535 (0: any free port)")
    commands.add_parser("demo", help="the whole flow offline: sandbox provider and a local fake Slack")

    roles_cmd = commands.add_parser("roles", help="grant, revoke and list roles")
    roles_sub = roles_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name in ("grant", "revoke"):
        sub = roles_sub.add_parser(name, help=f"{name} a role (requester, approver, admin)")
        sub.add_argument("user_id", metavar="USER_ID", help="Slack user id, e.g. U012AB3CD")
        sub.add_argument("role", metavar="ROLE", help="requester, approver or admin")
    roles_sub.add_parser("list", help="list every role assignment")

    audit_cmd = commands.add_parser("audit", help="verify or export the audit log")
    audit_sub = audit_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify", help="check the hash chain; exit 1 naming the first bad event")
    verify.add_argument(
        "--anchors",
        action="append",
        default=[],
        metavar="FILE",
        help="an anchors file written by `audit export --anchors` (repeatable): each tip must still be in the chain",
    )
    verify.add_argument(
        "--anchors-from-slack",
        action="store_true",
        help="also compare with every tip the bot posted to AUDIT_CHANNEL (needs SLACK_BOT_TOKEN)",
    )
    export = audit_sub.add_parser("export", help="write the audit log as CSV or JSON lines")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--since", help="a date (2026-11-01) or a span (7d, 12h)")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.add_argument(
        "--anchors", metavar="FILE", help="also add the chain's tip to this anchors file; keep it off this server"
    )

    db_cmd = commands.add_parser("db", help="database maintenance")
    db_sub = db_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="bring the schema to the latest version, keeping every row")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return _dispatch(args, settings)
    except SettingsError as exc:
        print(f"cancel-sub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (RoleError, ValueError) as exc:
        print(f"cancel-sub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StorageError, SlackUnreadable) as exc:
        print(f"cancel-sub: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        # One line, never a traceback: the database is unreachable, refuses us, or is not what the URL says.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        print(f"cancel-sub: the database could not be used ({type(exc).__name__}): {reason}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cancel-sub: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 0 to 65535")
    return port


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "roles":
        return _roles(args, settings)
    if args.command == "audit":
        return _audit(args, settings)
    if args.command == "db":
        database = Database(settings.database_url)
        before = migrate.current_revision(database.engine)
        after = migrate.upgrade(database.engine)
        print(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))
        return 0
    import bot.runtime.entrypoints as entrypoints  # imported late: the Slack stack is not needed for admin commands

    if args.command == "run":
        return entrypoints.run_socket_mode(settings)
    if args.command == "serve":
        return entrypoints.serve_http(settings, host=args.host, port=args.port)
    if args.command == "demo":
        return entrypoints.run_demo()
    raise AssertionError(f"unhandled command {args.command}")


def _roles(args: argparse.Namespace, settings: Settings) -> int:
    if args.action in ("grant", "revoke"):
        user_id = roles.validate_user_id(args.user_id)
        role = roles.parse_role(args.role)
    database = open_database(settings)
    with database.write() as db:
        if args.action == "list":
            assignments = roles.list_all(db)
            if not assignments:
                print("no roles yet: start with `cancel-sub roles grant <USER_ID> admin`")
            for a in assignments:
                print(f"{a.user_id:<14} {a.role:<10} granted by {a.granted_by} at {chain.format_time(a.granted_at)}")
            return 0
        if args.action == "grant":
            changed = roles.grant(db, user_id=user_id, role=role, actor=cli_actor())
            print(f"granted {role} to {user_id}" if changed else f"{user_id} already has {role}")
            return 0
        changed = roles.revoke(db, user_id=user_id, role=role, actor=cli_actor())
        print(f"revoked {role} from {user_id}" if changed else f"{user_id} does not have {role}")
        return 0


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "verify":
        return _audit_verify(args, settings)
    database = open_database(settings)
    since = parse_since(args.since) if args.since else None
    with database.read() as db:
        tip = chain.current_tip(db)  # before the events: every exported chain holds it
        if args.output:
            with Path(args.output).open("w", encoding="utf-8", newline="") as out:
                count = audit.export(db, out, fmt=args.format, since=since)
            print(f"wrote {count} events to {args.output}", file=sys.stderr)
        else:
            out_stream: TextIO = sys.stdout
            audit.export(db, out_stream, fmt=args.format, since=since)
    if args.anchors and tip is not None:
        with Path(args.anchors).open("a", encoding="utf-8") as anchors_file:
            anchors_file.write(chain.anchor_line(tip, at=audit.utcnow()))
        print(f"anchored event {tip.sequence} in {args.anchors}", file=sys.stderr)
    return 0


def _audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    """The whole chain, against the tips of earlier checks and any kept outside the database."""
    outside: list[chain.Anchor] = []
    for name in args.anchors:
        with Path(name).open(encoding="utf-8") as anchors_file:
            outside += chain.parse_anchors(anchors_file, name=name)
    if args.anchors_from_slack:
        outside += _tips_from_slack(settings)
    database = open_database(settings)
    with database.read() as db:
        report = chain.verify(db, anchors=[*chain.recorded_anchors(db), *outside])
    print(report.describe(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def _tips_from_slack(settings: Settings) -> list[chain.Anchor]:
    if not settings.audit_channel or not settings.slack_bot_token.get_secret_value():
        raise ValueError("--anchors-from-slack needs AUDIT_CHANNEL and SLACK_BOT_TOKEN")
    from bot.runtime.services import web_client
    from bot.slack import anchors
    from bot.slack.errors import SLACK_OR_ANSWER_FAILURES, slack_error

    client = web_client(settings)
    try:
        tips = anchors.read_tips(client, settings.audit_channel)
    except SLACK_OR_ANSWER_FAILURES as exc:
        raise SlackUnreadable(f"the audit channel could not be read from Slack: {slack_error(exc)}") from None
    print(f"read {len(tips)} tips from Slack", file=sys.stderr)
    return tips
