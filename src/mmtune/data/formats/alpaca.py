"""Alpaca rows: ``instruction``, optional ``input``, ``output`` (LLaMA-Factory's alpaca shape).

The user turn is the instruction, then a newline and the input when there is one (as
LLaMA-Factory joins them). Media come from ``images`` / ``videos`` / ``audios`` columns: at
``<image>``-style tags in the instruction or input, else at the start of the user turn. Optional
``system`` (a string) and ``history`` (earlier ``[instruction, output]`` pairs) columns add the
system message and earlier turns.
"""

from __future__ import annotations

from typing import Any

from mmtune.conversation import Conversation, Message, TextPart
from mmtune.data.formats import register
from mmtune.data.formats.base import Format, RowContext
from mmtune.data.formats.placeholders import Placeholders, tag_kinds
from mmtune.errors import DataError


def _text(row: dict[str, Any], col: str, required: bool) -> str:
    v = row.get(col)
    if v is None:
        if required:
            raise DataError(f"the row has no {col!r}", field=col)
        return ""
    if not isinstance(v, str):
        raise DataError(f"{col!r} is a {type(v).__name__}, expected a string", field=col)
    return v


def _history(row: dict[str, Any]) -> list[tuple[str, str]]:
    h = row.get("history")
    if h is None:
        return []
    if not isinstance(h, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in h
    ):
        raise DataError("'history' must be a list of [instruction, output] string pairs", field="history")
    return [(q, a) for q, a in h]


@register
class AlpacaFormat(Format):
    name = "alpaca"
    priority = 2
    message_rows = False  # instruction / input / output columns: no role names to map

    @classmethod
    def detect(cls, row: dict[str, Any]) -> bool:
        return "instruction" in row and "output" in row

    @classmethod
    def convert(cls, row: dict[str, Any], ctx: RowContext) -> Conversation:
        instruction, extra = _text(row, "instruction", True), _text(row, "input", False)
        output, system = _text(row, "output", True), _text(row, "system", False)
        slots = Placeholders()
        kinds = tag_kinds(row)
        messages: list[Message] = []
        if system.strip():
            messages.append(Message("system", [TextPart(system)]))
        for i, (q, a) in enumerate(_history(row)):
            messages.append(Message("user", slots.split_text(q, f"history[{i}][0]", kinds)))
            messages.append(Message("assistant", [TextPart(a)]))
        prompt = f"{instruction}\n{extra}" if extra else instruction
        messages.append(Message("user", slots.split_text(prompt, "instruction", kinds)))
        messages.append(Message("assistant", [TextPart(output)]))
        slots.fill(messages, row, ctx)
        return Conversation(messages)
