"""`python -m bench [--quick] [--only NAME]`: run the benchmarks, print a table, write bench/results/latest.json."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ack_latency, audit_scale, faults, throughput
from bench.measure import machine

RESULTS = Path(__file__).resolve().parent / "results"
FULL: dict[str, dict[str, Any]] = {
    "ack": {"total": 2000},
    "throughput": {"approvals": 500},
    "audit": {"events": 1_000_000},
    "faults": {},
}
QUICK = {
    "ack": {"total": 40, "levels": (1, 4)},
    "throughput": {"approvals": 16, "provider_seconds": 0.05},
    "audit": {"events": 4000, "lookups": 50},
    "faults": {"refreshes": 3, "home_opens": 4, "slow_requests": 4, "sweep_cards": 2},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not figures")
    parser.add_argument("--only", choices=("ack", "throughput", "audit", "faults"), action="append")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--throughput-database",
        metavar="URL",
        help="run the throughput benchmark on this (empty) PostgreSQL database instead of a SQLite file",
    )
    args = parser.parse_args(argv)
    sizes = {k: dict(v) for k, v in (QUICK if args.quick else FULL).items()}
    if args.throughput_database:
        sizes["throughput"]["database_url"] = args.throughput_database
    chosen = args.only or ["ack", "throughput", "audit", "faults"]
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "when": time.strftime("%Y-%m-%d %H:%M")}
    runners = {"ack": ack_latency.run, "throughput": throughput.run, "audit": audit_scale.run, "faults": faults.run}
    with tempfile.TemporaryDirectory(prefix="cancel-sub-bench-") as tmp:
        for name in chosen:
            workdir = Path(tmp) / name
            workdir.mkdir()
            print(f"running {name} …", flush=True)
            results[name] = runners[name](workdir, **sizes[name])  # type: ignore[operator]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(render(results))
    print(f"\nwritten to {args.output}")
    return 0


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"machine: {m['cpus']} CPUs, {m['cpu']}, Python {m['python']}, {m['system']}"]
    if "ack" in results:
        ack = results["ack"]
        lines += [
            "",
            "ack latency, ms, one process              floor p50/p99   cancel-sub p50/p99   ratio p50/p99"
            "   | floor in request thread p50/p99, ratio",
            "-" * 140,
        ]
        for row in ack["levels"]:
            f, t, c = row["floor"], row["floor_in_request_thread"], row["cancel_sub"]
            lines.append(
                f"  {row['senders']:>3} senders x {c['requests']:<5}               "
                f"{f['p50_ms']:>6.1f} / {f['p99_ms']:<6.1f}  {c['p50_ms']:>7.1f} / {c['p99_ms']:<7.1f}    "
                f"{row['ratio_p50']:.2f} / {row['ratio_p99']:.2f}      | "
                f"{t['p50_ms']:>6.1f} / {t['p99_ms']:<6.1f}  {row['ratio_in_thread_p50']:.2f} / "
                f"{row['ratio_in_thread_p99']:.2f}"
            )
        lines.append(
            "  the work after the acks (lookup, request, card) done, after the last ack: "
            + ", ".join(
                f"{row['senders']} senders {row['cancel_sub']['work_done_after_last_ack_s']} s" for row in ack["levels"]
            )
        )
        lines.append(f"  bot CPU per command (ack and the work after it): {ack['bot_cpu_ms_per_command']} ms")
        lines.append(
            f"  memory of cancel-sub serve (all its processes): RSS idle {ack['rss_idle_mb']} MB, after "
            f"{ack['rss_after_mb']} MB; PSS (shared pages counted once) idle {ack['pss_idle_mb']} MB, after "
            f"{ack['pss_after_mb']} MB"
        )
    if "throughput" in results:
        t = results["throughput"]
        lines += [
            "",
            f"approval throughput: {t['approvals']} approvals, provider {t['provider_seconds']} s each, "
            f"{t['listener_threads']} listener threads",
            f"  wall {t['wall_s']} s, ideal {t['ideal_s']} s ({t['over_ideal_pct']:+.1f} %), "
            f"provider cancels {t['provider_cancels']}",
            f"  CPU per approval: bot {t['bot_cpu_ms_per_approval']} ms, fakes {t['fakes_cpu_ms_per_approval']} ms, "
            f"senders {t['senders_cpu_ms_per_approval']} ms",
        ]
    if "audit" in results:
        a = results["audit"]
        lookup = a["lookup_by_subscription"]
        lines += [
            "",
            f"audit at scale: {a['events']:,} events (filled in {a['fill_s']} s)",
            f"  verify {a['verify_s']} s ({a['verify_events_per_s']:,} events/s), "
            f"export {a['export_rows_per_s']:,} rows/s",
            f"  periodic check after {a['incremental_events']:,} new events: {a['incremental_check_ms']} ms",
            f"  lookup by subscription p50 {lookup['p50_ms']} ms, p99 {lookup['p99_ms']} ms; "
            f"{a['database_bytes_per_event']} database bytes per event",
        ]
    if "faults" in results:
        lines += ["", "acks under faults (Socket Mode; target: none over 1 s):"]
        for name, figures in results["faults"].items():
            line = f"  {name}: {figures['acks']} acks, worst {figures['worst_ms']} ms, p99 {figures['p99_ms']} ms"
            if "fast_card_ms" in figures:
                line += f"; the fast provider's card after {figures['fast_card_ms']} ms"
            lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
