"""Decode a conversation's media for a model: the one step training rows and prompts share.

Documents expand first (PDF pages become images, text files become text), then every media part
is checked against the modalities the model takes and decoded. ``mmtune predict`` runs the same
step as preprocessing, so a prompt is refused for exactly what a training row would be.
"""

from __future__ import annotations

from collections.abc import Iterable

from mmtune.conversation import Conversation
from mmtune.data.documents import expand_documents
from mmtune.data.media import MediaSettings, decode_media
from mmtune.errors import DataError


def decode_conversation(conv: Conversation, accepts: Iterable[str], model: str, media: MediaSettings) -> Conversation:
    """``conv`` with documents expanded and every media part decoded (in place where already
    decoded parts are kept). ``accepts`` are the modalities of ``model`` (named in errors)."""
    accepts = frozenset(accepts)
    conv = expand_documents(conv, media)
    seen: dict[str, int] = {}
    for part in conv.media():
        if part.type not in accepts:
            raise DataError(
                f"{part.type} input is not supported by model family "
                f"{model!r} (it takes: {', '.join(sorted(accepts))})",
                field=part.type,
            )
        n = seen[part.type] = seen.get(part.type, -1) + 1
        if part.value is not None:
            continue
        try:
            part.value = decode_media(part, media)
        except DataError as e:  # say which media item of the row it is: "image[1]"
            raise DataError(e.reason, field=e.field or f"{part.type}[{n}]") from None
    return conv
