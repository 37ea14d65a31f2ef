"""Benchmarks: ack latency against a bare Bolt app, approval throughput, the audit log at scale, memory."""
