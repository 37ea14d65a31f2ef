"""Keeping the garbage collector's full passes short in a long-running bot process."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Move every object that exists once the bot is built (modules, the app, its clients and caches) out of the
    collector's reach. They live as long as the process, yet each full collection would walk them all while every
    thread, including those answering Slack, waits (see the README's Performance section). What is made later is
    collected as before."""
    gc.collect()  # the garbage of starting up, so that it is not kept for ever
    gc.freeze()
