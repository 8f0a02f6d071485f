"""OpenAI's chat fine-tuning JSONL, also what Azure OpenAI, Together and Fireworks take.

One record per row: ``messages`` with ``role`` and ``content``; a message with media has a list
of parts (``text`` and ``image_url``), a text-only message a plain string. Images travel as data
URIs, or as URLs under ``--media-uri-prefix`` where the provider fetches URLs (OpenAI, Azure).
mmtune's per-message train flag becomes the format's ``weight`` 0/1 on assistant messages. The
four providers differ only in their rules tables (``rules.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmtune.export.base import Blob, Item


def render(item: Item, url: Callable[[Blob], str]) -> dict[str, Any]:
    """One JSONL record; ``url`` gives each media item's data URI or URL."""
    messages = []
    for t in item.turns:
        if t.blobs():
            content: Any = [
                {"type": "text", "text": p}
                if isinstance(p, str)
                else {"type": "image_url", "image_url": {"url": url(p)}}
                for p in t.pieces
            ]
        else:
            content = t.text
        m: dict[str, Any] = {"role": t.role, "content": content}
        if t.role == "assistant" and t.train is not None:
            m["weight"] = int(t.train)
        messages.append(m)
    return {"messages": messages}
