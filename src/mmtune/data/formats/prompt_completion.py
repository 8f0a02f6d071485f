"""Rows with ``prompt`` and ``completion`` columns, the shape of spreadsheets and CSV files.

``files`` lists the row's media, comma-separated (or as a list): names in ``media_dir``, http(s)
links or data URIs. The extension (or the data URI's MIME type) says what each one is: images,
audio, video, PDFs and text files. They go before the prompt text. An optional ``system``
column becomes the system message. ``prompt`` / ``completion`` may also be lists of messages
(TRL's conversational prompt-completion rows), whose media may come from an ``images`` column.
"""

from __future__ import annotations

import re
from typing import Any

from mmtune.conversation import Conversation, MediaPart, Message, Part
from mmtune.data.formats import register
from mmtune.data.formats.base import Format, RowContext
from mmtune.data.formats.messages import ROLES, role_of, train_flag
from mmtune.data.formats.parts import parse_content, system_column
from mmtune.data.formats.placeholders import Placeholders, tag_kinds
from mmtune.data.formats.refs import media_ref, modality_of
from mmtune.errors import DataError

# A data URI holds exactly one comma (after its header; base64 has none), so it is matched
# whole before splitting the rest of the cell on commas.
_FILE_ITEM_RE = re.compile(r"data:[^,]*,[^,]*|[^,]+")


def split_files(value: Any, field: str = "files") -> list[str]:
    """The ``files`` cell as a list of names / URLs / data URIs."""
    if value is None:
        return []
    if isinstance(value, str):
        items = [m.group(0).strip() for m in _FILE_ITEM_RE.finditer(value)]
    elif isinstance(value, list | tuple):
        items = list(value)
        for i, v in enumerate(items):
            if not isinstance(v, str):
                raise DataError(
                    f"files[{i}] is a {type(v).__name__}, expected a file name, URL or data URI", field=f"{field}[{i}]"
                )
        items = [v.strip() for v in items]
    else:
        raise DataError(f"'files' is a {type(value).__name__}, expected comma-separated names or a list", field=field)
    return [v for v in items if v]


def _side(
    value: Any, column: str, role: str, ctx: RowContext, slots: Placeholders, kinds: frozenset[str]
) -> list[Message]:
    """One side (prompt or completion): a string is one message; a list is messages."""
    if isinstance(value, str):
        return [Message(role, slots.split_text(value, column, kinds))]  # type: ignore[arg-type]
    if isinstance(value, list) and value:
        out = []
        for i, m in enumerate(value):
            field = f"{column}[{i}]"
            if not isinstance(m, dict):
                raise DataError(
                    f"message is a {type(m).__name__}, expected an object with 'role' and 'content'", field=field
                )
            role_key, content_key = ctx.key("role", "role"), ctx.key("content", "content")
            parts = parse_content(m.get(content_key), ctx, f"{field}.{content_key}", slots, kinds)
            role = role_of(m.get(role_key), f"{field}.{role_key}", ctx.role_table(ROLES))
            out.append(Message(role, parts, train=train_flag(m, field, ctx)))
        return out
    if value is None or value == []:
        raise DataError(f"{column!r} is empty", field=column)
    raise DataError(f"{column!r} is a {type(value).__name__}, expected a string or a list of messages", field=column)


@register
class PromptCompletionFormat(Format):
    name = "prompt_completion"
    aliases = ("completion",)
    priority = 3

    @classmethod
    def detect(cls, row: dict[str, Any]) -> bool:
        return "prompt" in row and "completion" in row

    @classmethod
    def convert(cls, row: dict[str, Any], ctx: RowContext) -> Conversation:
        for col in ("prompt", "completion"):
            if col not in row:
                raise DataError(f"the row has no {col!r} column", field=col)
        slots = Placeholders()
        kinds = tag_kinds(row)
        messages: list[Message] = system_column(row)
        messages += _side(row["prompt"], "prompt", "user", ctx, slots, kinds)
        messages += _side(row["completion"], "completion", "assistant", ctx, slots, kinds)
        slots.fill(messages, row, ctx)
        files: list[Part] = []
        for i, name in enumerate(split_files(row.get("files"))):
            field = f"files[{i}]"
            files.append(MediaPart(modality_of(name, field), media_ref(name, ctx, field)))
        if files:
            first_user = next((m for m in messages if m.role == "user"), None)
            if first_user is None:
                raise DataError("the row has files but its prompt has no user message to put them in", field="files")
            first_user.parts[0:0] = files
        return Conversation(messages)
