"""Renders Slack messages (mrkdwn and Block Kit) as plain text lines, the way a person reads the channel."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from typing import Any

_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_EMOJI = {
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":warning:": "⚠️",
    ":no_entry_sign:": "🚫",
    ":alarm_clock:": "⏰",
    ":hourglass_flowing_sand:": "⏳",
    ":arrows_counterclockwise:": "🔄",
    ":leftwards_arrow_with_hook:": "↩️",
}


def plain(text: str, names: Mapping[str, str]) -> str:
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _MENTION.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or names.get(m.group(1), m.group(1))), text)
    for code, symbol in _EMOJI.items():
        text = text.replace(code, symbol)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_blocks(blocks: list[dict[str, Any]], names: Mapping[str, str], width: int = 96) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"*{plain(block['text']['text'], names)}*")
        elif kind == "section":
            if "text" in block:
                lines.extend(_wrap(plain(block["text"]["text"], names), width))
            fields = [plain(f["text"], names).replace("\n", ": ", 1) for f in block.get("fields", [])]
            for left, right in zip(fields[::2], [*fields[1::2], ""], strict=False):
                lines.append(f"{left:<46} {right}".rstrip())
        elif kind == "context":
            for element in block.get("elements", []):
                lines.extend(_wrap(plain(element.get("text", ""), names), width))
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "actions":
            lines.append("  ".join(f"[ {e['text']['text']} ]" for e in block.get("elements", [])))
    return lines


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    for paragraph in text.split("\n"):
        out.extend(textwrap.wrap(paragraph, width) or [""])
    return out


def render_message(text: str, blocks: list[dict[str, Any]], names: Mapping[str, str], width: int = 96) -> list[str]:
    return render_blocks(blocks, names, width) if blocks else _wrap(plain(text, names), width)
