"""The threaded HTTP server the local fakes use, silent when a client drops its connection (a killed bot does)."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the other side went away; nothing here to report
        super().handle_error(request, client_address)
