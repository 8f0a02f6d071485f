"""Vertex AI Gemini tuning rows: ``contents`` (and an optional ``systemInstruction``).

``{"systemInstruction": {"parts": [{"text"}]}, "contents": [{"role": "user" | "model",
"parts": [{"text"} | {"fileData": {"mimeType", "fileUri"}} | {"inlineData": {"mimeType",
"data"}}]}]}``. ``gs://`` and ``s3://`` URIs cannot be fetched offline; one that ends in
``/media/NAME`` is read from ``media/NAME`` beside the dataset file, which is where
``mmtune export`` puts the files it references (docs/exports.md), so an export folder trains
as it is.
"""

from __future__ import annotations

import os
from typing import Any

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, Part, TextPart
from mmtune.data import archive
from mmtune.data.formats import register
from mmtune.data.formats.base import Format, RowContext
from mmtune.data.formats.refs import media_ref
from mmtune.data.media import kind_of_mime
from mmtune.errors import DataError

ROLES = {"user": "user", "model": "assistant"}
CLOUD_SCHEMES = ("gs://", "s3://")


def cloud_ref(uri: str, ctx: RowContext, field: str, mime: str | None = None) -> MediaRef:
    """A media reference from a URI: ``gs://`` / ``s3://`` ones read from the dataset's own
    ``media/`` folder (an export's layout); anything else as every format reads it."""
    if not uri.lower().startswith(CLOUD_SCHEMES):
        ref = media_ref(uri, ctx, field)
        return MediaRef(**{**ref.__dict__, "mime": mime}) if mime and ref.data_uri is None else ref
    scheme = uri.split("://", 1)[0]
    name = uri.rsplit("/media/", 1)[1] if "/media/" in uri else ""
    local = os.path.join("media", name)
    found = bool(name) and (archive.is_archive(ctx.media_base) or os.path.isfile(os.path.join(ctx.media_base, local)))
    if not found:
        raise DataError(
            f"{uri[:100]!r} is a {scheme}:// URI, which mmtune cannot fetch; put the file in the "
            f"dataset's media/ folder (an `mmtune export` folder has it there)",
            field=field,
        )
    return MediaRef(path=local, base_dir=ctx.media_base, mime=mime)


def _kind(mime: Any, field: str) -> str:
    kind = kind_of_mime(mime) if isinstance(mime, str) else None
    if kind is None:
        raise DataError(f"mimeType {mime!r} is not an image, audio, video or document type", field=field)
    return kind


def _part(p: Any, ctx: RowContext, field: str) -> Part:
    if not isinstance(p, dict):
        raise DataError(f"part is a {type(p).__name__}, expected an object with 'text' or 'fileData'", field=field)
    if isinstance(p.get("text"), str):
        return TextPart(p["text"])
    if isinstance(p.get("fileData"), dict):
        fd = p["fileData"]
        uri = fd.get("fileUri")
        if not isinstance(uri, str) or not uri.strip():
            raise DataError("fileData has no 'fileUri' string", field=f"{field}.fileData")
        mime = fd.get("mimeType")
        kind = _kind(mime, f"{field}.fileData.mimeType")
        return MediaPart(kind, cloud_ref(uri.strip(), ctx, f"{field}.fileData.fileUri", mime.lower()))  # type: ignore[arg-type]
    if isinstance(p.get("inlineData"), dict):
        d = p["inlineData"]
        mime = d.get("mimeType")
        kind = _kind(mime, f"{field}.inlineData.mimeType")
        if not isinstance(d.get("data"), str):
            raise DataError("inlineData has no base64 'data' string", field=f"{field}.inlineData")
        return MediaPart(kind, MediaRef(base64=d["data"], mime=mime.lower()))  # type: ignore[arg-type]
    keys = ", ".join(k for k, v in p.items() if v is not None) or "none"
    raise DataError(f"part has none of 'text', 'fileData' or 'inlineData' (keys: {keys})", field=field)


def _parts(content: Any, ctx: RowContext, field: str) -> list[Part]:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        raise DataError("expected an object with a 'parts' list", field=field)
    return [_part(p, ctx, f"{field}.parts[{j}]") for j, p in enumerate(parts)]


@register
class GeminiFormat(Format):
    name = "gemini"
    aliases = ("vertex", "vertex_gemini")
    priority = 20
    message_rows = False

    @classmethod
    def detect(cls, row: dict[str, Any]) -> bool:
        c = row.get("contents")
        return isinstance(c, list) and bool(c) and all(isinstance(m, dict) and "parts" in m for m in c)

    @classmethod
    def convert(cls, row: dict[str, Any], ctx: RowContext) -> Conversation:
        contents = row.get("contents")
        if not isinstance(contents, list) or not contents:
            raise DataError("'contents' is missing or empty, expected a list of turns", field="contents")
        messages: list[Message] = []
        system = row.get("systemInstruction")
        if system is not None:
            parts = _parts(system, ctx, "systemInstruction")
            if any(not isinstance(p, TextPart) for p in parts):
                raise DataError("systemInstruction may hold only text parts", field="systemInstruction")
            messages.append(Message("system", parts))
        for i, turn in enumerate(contents):
            field = f"contents[{i}]"
            role = turn.get("role") if isinstance(turn, dict) else None
            mapped = ROLES.get(role.strip().lower()) if isinstance(role, str) else ("user" if role is None else None)
            if mapped is None:
                raise DataError(f"unknown role {role!r} (known roles: model, user)", field=f"{field}.role")
            messages.append(Message(mapped, _parts(turn, ctx, field)))  # type: ignore[arg-type]
        return Conversation(messages)
