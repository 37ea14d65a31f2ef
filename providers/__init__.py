"""Payment provider adapters behind one protocol and one outcome vocabulary; no Slack, no database."""
