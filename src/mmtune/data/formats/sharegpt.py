"""ShareGPT / LLaVA / LLaMA-Factory rows: ``conversations`` of ``{"from", "value"}`` turns.

Roles are ``human`` / ``gpt`` / ``system`` (LLaMA-Factory adds ``observation`` and
``function_call``; ``user`` / ``assistant`` are accepted too, as are ``role`` / ``content`` keys).
Media go in ``images`` / ``videos`` / ``audios`` columns (LLaVA: one ``image``), and the text says
where with ``<image>``, ``<video>`` and ``<audio>``: the n-th tag takes the n-th item, and the
counts must match. A row with media but no tags gets them at the start of its first user turn.
Tags are placeholders only in datasets that have the media column (``<video>`` in a text-only
dataset may well be HTML).
An optional ``system`` column becomes the first message.
"""

from __future__ import annotations

from typing import Any

from mmtune.conversation import Conversation, Message, Role
from mmtune.data.formats import register
from mmtune.data.formats.base import Format, RowContext
from mmtune.data.formats.messages import role_of, train_flag
from mmtune.data.formats.parts import system_column
from mmtune.data.formats.placeholders import Placeholders, tag_kinds
from mmtune.errors import DataError

ROLES: dict[str, Role] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "function_call": "assistant",
    "system": "system",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}
_COLUMNS = ("conversations", "conversation", "messages")


def _turns(row: dict[str, Any]) -> tuple[str, Any]:
    for col in _COLUMNS:
        if row.get(col) is not None:
            return col, row[col]
    return "conversations", None


def _is_turn(t: Any) -> bool:
    return isinstance(t, dict) and ("from" in t and "value" in t)


@register
class ShareGPTFormat(Format):
    name = "sharegpt"
    aliases = ("llava", "llama_factory")
    priority = 5

    @classmethod
    def detect(cls, row: dict[str, Any]) -> bool:
        col, turns = _turns(row)
        if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
            return False
        # ``messages`` with role/content is the chat_template format; elsewhere either key pair.
        return all(_is_turn(t) or (col != "messages" and "role" in t and "content" in t) for t in turns)

    @classmethod
    def convert(cls, row: dict[str, Any], ctx: RowContext) -> Conversation:
        col, turns = _turns(row)
        if turns is None:
            raise DataError("the row has no 'conversations' column", field="conversations")
        if not isinstance(turns, list) or not turns:
            raise DataError(
                f"{col!r} is {'empty' if turns == [] else 'a ' + type(turns).__name__}, expected a list of turns",
                field=col,
            )
        slots = Placeholders()
        kinds = tag_kinds(row)
        messages: list[Message] = system_column(row)
        roles = ctx.role_table(ROLES)
        for i, t in enumerate(turns):
            field = f"{col}[{i}]"
            if not isinstance(t, dict):
                raise DataError(
                    f"turn is a {type(t).__name__}, expected an object with 'from' and 'value'", field=field
                )
            # name the keys the turn uses: a role/content turn told about 'from' would look for the wrong key
            who_key, text_key = ("from", "value") if "from" in t or "role" not in t else ("role", "content")
            who_key, text_key = ctx.key("role", who_key), ctx.key("content", text_key)  # the dataset's mappings
            who, text = t.get(who_key), t.get(text_key)
            if who is None:
                raise DataError(f"turn has no {who_key!r}", field=field)
            role = role_of(who, f"{field}.{who_key}", roles)
            if text is None:
                text = ""
            if not isinstance(text, str):
                raise DataError(
                    f"{text_key!r} is a {type(text).__name__}, expected a string", field=f"{field}.{text_key}"
                )
            train = train_flag(t, field, ctx) if ctx.mapped("train") else None
            messages.append(Message(role, slots.split_text(text, f"{field}.{text_key}", kinds), train=train))
        slots.fill(messages, row, ctx)
        return Conversation(messages)
