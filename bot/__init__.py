"""The Slack face of cancel-sub and its use cases."""
