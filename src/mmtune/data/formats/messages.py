"""Rows with ``messages``: a list of ``{"role", "content"}`` (the format chat templates take).

``content`` is a string or a list of parts (see ``parts.py``: mmtune/HF parts, OpenAI parts,
TRL's indexed image parts). Media may also live in an ``images`` / ``image`` / ``videos`` /
``audios`` column: its items fill the media parts that have no data and ``<image>``-style tags in
the text (LLaMA-Factory writes those), in order; with no placeholder at all they go at the
start of the first user turn. Every item of a media column must be used.

A message may carry ``train`` (or ``training``) true/false, or ``weight`` 0/1, to override
whether it is trained on.
"""

from __future__ import annotations

from typing import Any

from mmtune.conversation import Conversation, Message, Role
from mmtune.data.formats import register
from mmtune.data.formats.base import Format, RowContext
from mmtune.data.formats.parts import parse_content
from mmtune.data.formats.placeholders import Placeholders, tag_kinds
from mmtune.errors import DataError

ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "tool": "tool",
}


def role_of(value: Any, field: str, roles: dict[str, Role] = ROLES) -> Role:
    role = roles.get(value.strip().lower()) if isinstance(value, str) else None
    if role is None:
        known = ", ".join(sorted(roles))
        raise DataError(f"unknown role {value!r} (known roles: {known})", field=field)
    return role


def train_flag(m: dict[str, Any], field: str, ctx: RowContext | None = None) -> bool | None:
    """The per-message training override, if the message has one (in the key the dataset's
    ``message_property_mappings`` names for ``train``, when it names one)."""
    for key in (ctx.key("train", "train"),) if ctx is not None and ctx.mapped("train") else ("train", "training"):
        v = m.get(key)
        if v is not None:
            if not isinstance(v, bool):
                raise DataError(f"{key!r} is a {type(v).__name__}, expected true or false", field=f"{field}.{key}")
            return v
    w = m.get("weight")
    if w is not None:
        if w not in (0, 1) or isinstance(w, bool):
            raise DataError(f"'weight' is {w!r}, expected 0 or 1", field=f"{field}.weight")
        return bool(w)
    return None


@register
class MessagesFormat(Format):
    name = "chat_template"
    aliases = ("messages",)
    priority = 10

    @classmethod
    def detect(cls, row: dict[str, Any]) -> bool:
        msgs = row.get("messages")
        return isinstance(msgs, list) and bool(msgs) and all(isinstance(m, dict) and "role" in m for m in msgs)

    @classmethod
    def convert(cls, row: dict[str, Any], ctx: RowContext) -> Conversation:
        raw = row.get("messages")
        if raw is None:
            raise DataError("the row has no 'messages' column", field="messages")
        if not isinstance(raw, list) or not raw:
            raise DataError(
                f"'messages' is {'empty' if raw == [] else 'a ' + type(raw).__name__}, expected a list of messages",
                field="messages",
            )
        slots = Placeholders()
        kinds = tag_kinds(row)
        role_key, content_key = ctx.key("role", "role"), ctx.key("content", "content")
        roles = ctx.role_table(ROLES)
        messages = []
        for i, m in enumerate(raw):
            field = f"messages[{i}]"
            if not isinstance(m, dict):
                raise DataError(
                    f"message is a {type(m).__name__}, expected an object with {role_key!r} and {content_key!r}",
                    field=field,
                )
            role = role_of(m.get(role_key), f"{field}.{role_key}", roles)
            parts = parse_content(m.get(content_key), ctx, f"{field}.{content_key}", slots, kinds)
            messages.append(Message(role, parts, train=train_flag(m, field, ctx)))
        slots.fill(messages, row, ctx)
        return Conversation(messages)
