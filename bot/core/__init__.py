"""The use cases: asking, deciding, cancelling, upkeep, roles and audit. No Slack here (a lint rule says so)."""
