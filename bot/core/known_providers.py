"""Which provider a request is for, remembered once known, so routing a click to its provider's bulkhead needs
no database read in the ack's thread."""

from __future__ import annotations

import threading

# Requests remembered at most; the oldest is forgotten first. A forgotten one costs one read, nothing else.
CAPACITY = 10_000


class KnownProviders:
    """A request's provider never changes once the request exists, so what is remembered here is never stale.
    Only found requests are remembered: an id the database does not know is asked about again every time.

    Why it exists: under a burst of clicks, each ack's read of the request's provider took a third of the ack's
    time holding Python's lock, and a round trip to the database besides (see the README's Performance section)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._providers: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, request_id: str) -> str | None:
        return self._providers.get(request_id)

    def remember(self, request_id: str, provider: str) -> None:
        with self._lock:
            self._providers[request_id] = provider
            if len(self._providers) > self._capacity:
                del self._providers[next(iter(self._providers))]  # the oldest: dicts keep insertion order
