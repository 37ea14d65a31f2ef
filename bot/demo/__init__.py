"""`cancel-sub demo`: the whole flow offline, and the local stand-ins for Slack it needs (also used by the tests)."""
