"""Storage: the tables and the only code that writes them (roles, requests, audit log)."""
