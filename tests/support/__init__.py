"""Test doubles and helpers shared by the tests and the benchmarks: fake providers, real bot processes."""
