"""The floor: a Bolt app whose slash command only acks, served by the same server as cancel-sub.

`python -m bench.bare_bolt` is Bolt as it comes (the listener runs in Bolt's executor and the request's thread
polls for its ack every 10 ms); with `--in-request-thread` the listener runs in the request's thread and the
answer goes out when it returns, as cancel-sub does (`process_before_response=True`).
"""

from __future__ import annotations

import os
import sys
import threading

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.runtime.server import HttpServer


def main(argv: list[str]) -> int:
    # The same Web API client set-up as the bot: Bolt's authorization calls auth.test once, at SLACK_API_URL.
    client = WebClient(token="xoxb-floor", base_url=os.environ["SLACK_API_URL"])
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=client,
        token_verification_enabled=False,
        process_before_response="--in-request-thread" in argv,
    )

    @app.command("/cancel-sub")
    def only_ack(ack: Ack) -> None:
        ack()

    threads = int(os.environ.get("LISTENER_THREADS", "16"))
    server = HttpServer(_wsgi(app), host="127.0.0.1", port=0, threads=threads)
    print(f"listening on http://127.0.0.1:{server.port}", file=sys.stderr, flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()
    return 0


def _wsgi(app: App):  # type: ignore[no-untyped-def]
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    return SlackRequestHandler(app, path="/slack/events")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
