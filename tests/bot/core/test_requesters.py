"""What the ack remembers of the requester role: yes answers only, for a while, forgotten on revocation."""

from __future__ import annotations

from bot.core.requesters import RecentRequesters


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_yes_is_trusted_for_its_window_and_no_longer() -> None:
    clock = Clock()
    memory = RecentRequesters(30, clock=clock)
    assert not memory.vouches_for("U0AGENT01")
    memory.remember("U0AGENT01")
    clock.now += 29.9
    assert memory.vouches_for("U0AGENT01") and not memory.vouches_for("U0OTHER01")
    clock.now += 0.1
    assert not memory.vouches_for("U0AGENT01")


def test_a_new_yes_restarts_the_window_and_forgetting_ends_it() -> None:
    clock = Clock()
    memory = RecentRequesters(30, clock=clock)
    memory.remember("U0AGENT01")
    clock.now += 20
    memory.remember("U0AGENT01")
    clock.now += 20
    assert memory.vouches_for("U0AGENT01")
    memory.forget("U0AGENT01")
    memory.forget("U0NEVER01")  # forgetting someone never remembered is fine
    assert not memory.vouches_for("U0AGENT01")
