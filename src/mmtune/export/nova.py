"""Amazon Nova on Bedrock: ``schemaVersion: bedrock-conversation-2024`` JSONL.

``system`` is a list of text blocks; ``messages`` hold ``user`` / ``assistant`` turns whose
``content`` blocks are ``{"text"}``, ``{"image": {"format", "source": {"s3Location": {"uri"}}}}``
or the same for ``video``. Media URIs are under ``--media-uri-prefix`` (the dataset's own
bucket, as Bedrock requires), and the files are written to ``DIR/media/`` to be copied there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmtune.data.formats.nova import FORMATS as READ_FORMATS
from mmtune.export.base import Blob, Item

SCHEMA = "bedrock-conversation-2024"
# MIME type -> the block's ``format`` word: the reader's table (data/formats/nova.py), reversed.
FORMATS = {mime: word for word, mime in READ_FORMATS.items() if word != "mpg"}


def render(item: Item, url: Callable[[Blob], str]) -> dict[str, Any]:
    out: dict[str, Any] = {"schemaVersion": SCHEMA}
    turns = item.turns
    if turns and turns[0].role == "system":
        out["system"] = [{"text": turns[0].text}]
        turns = turns[1:]
    messages = []
    for t in turns:
        content: list[dict[str, Any]] = []
        for p in t.pieces:
            if isinstance(p, str):
                content.append({"text": p})
            else:
                fmt = FORMATS.get(p.mime, p.mime.split("/")[-1])
                content.append({p.kind: {"format": fmt, "source": {"s3Location": {"uri": url(p)}}}})
        messages.append({"role": t.role, "content": content})
    out["messages"] = messages
    return out
