"""Amazon Nova / Bedrock rows: ``schemaVersion: bedrock-conversation-2024``.

``{"schemaVersion", "system": [{"text"}], "messages": [{"role": "user" | "assistant",
"content": [{"text"} | {"image" | "video": {"format", "source": {"s3Location": {"uri"}} |
{"bytes": BASE64}}}]}]}``. ``s3://`` URIs are read as ``gemini.cloud_ref`` reads them: from
the dataset's ``media/`` folder, where ``mmtune export --to nova`` writes its files.
"""

from __future__ import annotations

from typing import Any

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, Part, TextPart
from mmtune.data.formats import register
from mmtune.data.formats.base import Format, RowContext
from mmtune.data.formats.gemini import cloud_ref
from mmtune.errors import DataError

# The blocks' ``format`` word <-> MIME type (Bedrock's names; ``three_gp`` is its spelling of 3GP).
FORMATS: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "webm": "video/webm",
    "flv": "video/x-flv",
    "mpeg": "video/mpeg",
    "mpg": "video/mpeg",
    "wmv": "video/x-ms-wmv",
    "three_gp": "video/3gpp",
}
ROLES = {"user": "user", "assistant": "assistant"}


def _block(b: Any, ctx: RowContext, field: str) -> Part:
    if not isinstance(b, dict):
        raise DataError(f"content block is a {type(b).__name__}, expected an object", field=field)
    if isinstance(b.get("text"), str):
        return TextPart(b["text"])
    kind = "image" if isinstance(b.get("image"), dict) else "video" if isinstance(b.get("video"), dict) else None
    if kind is None:
        keys = ", ".join(b) or "none"
        raise DataError(f"content block has none of 'text', 'image' or 'video' (keys: {keys})", field=field)
    spec = b[kind]
    fmt = spec.get("format")
    mime = FORMATS.get(fmt) if isinstance(fmt, str) else None
    if mime is None or not mime.startswith(kind):
        raise DataError(f"{kind} format {fmt!r} is not one of Bedrock's {kind} formats", field=f"{field}.{kind}.format")
    src = spec.get("source") if isinstance(spec.get("source"), dict) else {}
    loc = src.get("s3Location")
    if isinstance(loc, dict) and isinstance(loc.get("uri"), str):
        return MediaPart(kind, cloud_ref(loc["uri"].strip(), ctx, f"{field}.{kind}.source.s3Location.uri", mime))
    if isinstance(src.get("bytes"), str):
        return MediaPart(kind, MediaRef(base64=src["bytes"], mime=mime))
    raise DataError(f"{kind} has no source.s3Location.uri or source.bytes", field=f"{field}.{kind}.source")


def _blocks(content: Any, ctx: RowContext, field: str) -> list[Part]:
    if not isinstance(content, list):
        raise DataError(f"content is a {type(content).__name__}, expected a list of blocks", field=field)
    return [_block(b, ctx, f"{field}[{j}]") for j, b in enumerate(content)]


def _is_block_list(content: Any) -> bool:
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(b, dict) and "type" not in b and ({"text", "image", "video"} & set(b)) for b in content)
    )


@register
class NovaFormat(Format):
    name = "nova"
    aliases = ("bedrock", "bedrock-conversation-2024")
    priority = 20
    message_rows = False

    @classmethod
    def detect(cls, row: dict[str, Any]) -> bool:
        msgs = row.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
            return False
        return isinstance(row.get("schemaVersion"), str) or all(_is_block_list(m.get("content")) for m in msgs)

    @classmethod
    def convert(cls, row: dict[str, Any], ctx: RowContext) -> Conversation:
        msgs = row.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise DataError("'messages' is missing or empty, expected a list of turns", field="messages")
        messages: list[Message] = []
        system = row.get("system")
        if system is not None:
            parts = _blocks(system, ctx, "system")
            if any(not isinstance(p, TextPart) for p in parts):
                raise DataError("system may hold only text blocks", field="system")
            messages.append(Message("system", parts))
        for i, m in enumerate(msgs):
            field = f"messages[{i}]"
            role = m.get("role") if isinstance(m, dict) else None
            mapped = ROLES.get(role.strip().lower()) if isinstance(role, str) else None
            if mapped is None:
                raise DataError(f"unknown role {role!r} (known roles: assistant, user)", field=f"{field}.role")
            messages.append(Message(mapped, _blocks(m.get("content"), ctx, f"{field}.content")))  # type: ignore[arg-type]
        return Conversation(messages)
