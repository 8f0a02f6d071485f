"""Vertex AI Gemini supervised tuning JSONL: ``systemInstruction`` and ``contents``.

Each turn is ``{"role": "user" | "model", "parts": [...]}``; a part is ``{"text": ...}`` or
``{"fileData": {"mimeType", "fileUri"}}`` with a ``gs://`` URI under ``--media-uri-prefix``
(the media files are written to ``DIR/media/`` to be copied there). A leading system message
becomes ``systemInstruction``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmtune.export.base import Blob, Item
from mmtune.export.rules import GEMINI

ROLES = {"user": "user", "assistant": "model"}


def render(item: Item, url: Callable[[Blob], str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    turns = item.turns
    if turns and turns[0].role == "system":
        out["systemInstruction"] = {"role": "system", "parts": [{"text": turns[0].text}]}
        turns = turns[1:]
    contents = []
    for t in turns:
        parts: list[dict[str, Any]] = []
        for p in t.pieces:
            if isinstance(p, str):
                parts.append({"text": p})
            else:
                mime = GEMINI.mime_aliases.get(p.mime, p.mime)
                parts.append({"fileData": {"mimeType": mime, "fileUri": url(p)}})
        contents.append({"role": ROLES.get(t.role, t.role), "parts": parts})
    out["contents"] = contents
    return out
