"""Rows with ``messages``: role + content (a string, or a list of typed parts).

Image parts may carry ``path`` / ``url`` / ``base64`` / ``image`` (in-memory PIL or bytes). A
legacy ``images`` (or ``image``) column fills bare ``{"type": "image"}`` placeholders in order;
with no placeholders, all of its images go at the start of the first user turn. Every image of
a row is used.
"""

from __future__ import annotations

from typing import Any

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, Part, TextPart
from mmtune.data.formats import register
from mmtune.data.formats.base import Format, RowContext
from mmtune.errors import DataError

ROLES = {"system": "system", "user": "user", "assistant": "assistant", "human": "user", "gpt": "assistant", "tool": "tool"}
MEDIA_TYPES = ("image", "audio", "video", "document")


def media_ref(value: Any, ctx: RowContext, field: str) -> MediaRef:
    """A MediaRef from a column value: a path/URL/data URI string, a dict, bytes or an object."""
    if isinstance(value, str):
        if value.startswith(("http://", "https://")) or "://" in value[:12]:
            return MediaRef(url=value)
        if value.startswith("data:"):
            return MediaRef(data_uri=value)
        if not value.strip():
            raise DataError("empty media reference", field=field)
        return MediaRef(path=value, base_dir=ctx.media_base)
    if isinstance(value, dict):  # HF Image feature stored undecoded: {"bytes": ..., "path": ...}
        if value.get("bytes"):
            return MediaRef(obj=value["bytes"])
        if value.get("path"):
            return media_ref(value["path"], ctx, field)
        raise DataError("media entry has neither bytes nor path", field=field)
    if value is None:
        raise DataError("media entry is empty (null)", field=field)
    return MediaRef(obj=value)


def part_from_dict(p: Any, ctx: RowContext, field: str) -> Part:
    if isinstance(p, str):
        return TextPart(p)
    if not isinstance(p, dict):
        raise DataError(f"content part is a {type(p).__name__}, expected an object with 'type'", field=field)
    kind = p.get("type")
    if kind == "text":
        text = p.get("text")
        if not isinstance(text, str):
            raise DataError("text part has no 'text' string", field=field)
        return TextPart(text)
    if kind in MEDIA_TYPES:
        sr = p.get("sampling_rate")
        for key, mk in (("path", "path"), ("url", "url"), ("base64", "base64")):
            if p.get(key) is not None:
                if key == "path":
                    return MediaPart(kind, MediaRef(path=p[key], base_dir=ctx.media_base, sampling_rate=sr))
                if key == "url":
                    return MediaPart(kind, media_ref(p[key], ctx, field))
                return MediaPart(kind, MediaRef(base64=p[key], sampling_rate=sr))
        for key in (kind, "image", "audio", "video", "array", "frames"):
            if p.get(key) is not None:
                v = p[key]
                if isinstance(v, str | dict):
                    return MediaPart(kind, media_ref(v, ctx, field))
                return MediaPart(kind, MediaRef(obj=v, sampling_rate=sr))
        return MediaPart(kind, MediaRef())  # a bare placeholder, filled from a column
    raise DataError(f"unknown content part type {kind!r}", field=field)


def fill_placeholders(messages: list[Message], column: list[Any], kind: str, ctx: RowContext, col_name: str) -> None:
    """Fill bare media placeholders from a column, in order; otherwise prepend to the first user turn."""
    bare = [p for m in messages for p in m.parts if isinstance(p, MediaPart) and p.type == kind and p.ref == MediaRef()]
    refs = [media_ref(v, ctx, f"{col_name}[{i}]") for i, v in enumerate(column)]
    if bare:
        if len(bare) != len(refs):
            raise DataError(
                f"{len(bare)} {kind} placeholder(s) in the messages but {len(refs)} item(s) in column {col_name!r}",
                field=col_name,
            )
        for part, ref in zip(bare, refs):
            part.ref = ref
        return
    first_user = next((m for m in messages if m.role == "user"), None)
    if first_user is None:
        raise DataError(f"column {col_name!r} has media but the row has no user turn", field=col_name)
    first_user.parts[0:0] = [MediaPart(kind, r) for r in refs]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


@register
class MessagesFormat(Format):
    name = "chat_template"
    aliases = ("messages",)
    priority = 10

    @classmethod
    def detect(cls, row: dict[str, Any]) -> bool:
        msgs = row.get("messages")
        return isinstance(msgs, list) and all(isinstance(m, dict) and "role" in m for m in msgs)

    @classmethod
    def convert(cls, row: dict[str, Any], ctx: RowContext) -> Conversation:
        raw = row.get("messages")
        if not isinstance(raw, list) or not raw:
            raise DataError("'messages' is missing or empty", field="messages")
        messages: list[Message] = []
        for i, m in enumerate(raw):
            field = f"messages[{i}]"
            if not isinstance(m, dict):
                raise DataError(f"message is a {type(m).__name__}, expected an object", field=field)
            role = ROLES.get(str(m.get("role")))
            if role is None:
                raise DataError(f"unknown role {m.get('role')!r}", field=f"{field}.role")
            content = m.get("content")
            if isinstance(content, str):
                parts: list[Part] = [TextPart(content)]
            elif isinstance(content, list):
                parts = [part_from_dict(p, ctx, f"{field}.content[{j}]") for j, p in enumerate(content)]
            elif content is None:
                parts = []
            else:
                raise DataError(f"content is a {type(content).__name__}, expected a string or a list", field=f"{field}.content")
            messages.append(Message(role, parts, train=m.get("train") if isinstance(m.get("train"), bool) else None))
        for col, kind in (("images", "image"), ("image", "image"), ("videos", "video"), ("audios", "audio")):
            if row.get(col) is not None and as_list(row.get(col)):
                fill_placeholders(messages, as_list(row[col]), kind, ctx, col)
        for i, m in enumerate(messages):
            for j, p in enumerate(m.parts):
                if isinstance(p, MediaPart) and p.ref == MediaRef():
                    raise DataError(f"{p.type} placeholder has no data and no column fills it", field=f"messages[{i}].content[{j}]")
        return Conversation(messages)
