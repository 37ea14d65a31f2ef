"""A smoke run of every benchmark at tiny sizes: they run, count what they claim, and report figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main


@pytest.mark.timeout(300)
def test_every_benchmark_runs_at_tiny_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "bench.json"
    assert main(["--quick", "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    for row in results["ack"]["levels"]:
        assert row["floor"]["requests"] == row["cancel_sub"]["requests"] == 40
        assert row["cancel_sub"]["p99_ms"] >= row["cancel_sub"]["p50_ms"] > 0
    for row in results["ack"]["levels"]:
        assert row["floor_in_request_thread"]["requests"] == 40
    assert results["ack"]["rss_after_mb"] > 0 and results["ack"]["pss_after_mb"] > 0
    assert results["ack"]["cards_posted"] == (40 + 40) * 2  # warm-up and measured commands, two levels
    assert results["ack"]["bot_cpu_ms_per_command"] > 0 and results["throughput"]["bot_cpu_ms_per_approval"] > 0
    assert results["throughput"]["provider_cancels"] == results["throughput"]["approvals"] == 16
    assert results["audit"]["events"] == 4000 and results["audit"]["verify_s"] > 0
    assert results["audit"]["incremental_check_ms"] > 0
    faults = results["faults"]
    assert faults["refreshes"]["acks"] == 6 and faults["home_opens"]["acks"] == 5
    assert faults["slow_provider"]["acks"] == 5 and faults["slow_provider"]["fast_card_ms"] > 0
    assert faults["chat_update_rate_limited"]["acks"] == 2 + 40
    assert all(f["worst_ms"] >= f["p99_ms"] > 0 for f in faults.values())
    printed = capsys.readouterr().out
    assert "ack latency" in printed and "approval throughput" in printed and "audit at scale" in printed
    assert "acks under faults" in printed
