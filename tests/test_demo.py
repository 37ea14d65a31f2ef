"""The README's first command: the offline demo tells the whole story and ends with an intact audit chain."""

from __future__ import annotations

from pathlib import Path

from bot.demo.story import Demo, story


def test_the_demo_runs_the_whole_story(tmp_path: Path) -> None:
    lines: list[str] = []
    demo = Demo(tmp_path, lines.append)
    try:
        story(demo)
    finally:
        demo.close()
    shown = "\n".join(lines)
    for expected in (
        "someone else has to approve it",  # self-approval refused
        "needs the approver role",  # a requester clicking Approve
        "Too late",  # the race
        "✅ *Cancelled.*",
        "🚫 *Rejected*",
        "*unknown*",  # the lost answer …
        "verified at the provider",  # … settled by Verify
        "is already cancelled",
        "not an enabled provider",
        "audit chain intact",
    ):
        assert expected in shown, expected
    assert "sandbox cancel calls for sb_1001: 1" in shown
    # Alex's double click: told "you already decided" if Alex won, "too late" twice if Morgan did.
    assert "You already decided" in shown or shown.count("Too late") >= 2
