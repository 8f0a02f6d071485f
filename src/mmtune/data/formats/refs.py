"""Column values -> ``MediaRef``, and which modality a file name or MIME type stands for.

Formats write media in a handful of ways: a name relative to the dataset (or ``media_dir``), an
http(s) URL, a data URI, bare base64, raw bytes, an HF ``Image``/``Audio`` feature value
(``{"bytes", "path"}`` or ``{"array", "sampling_rate"}``), or an in-memory object. This module
maps them all to a ``MediaRef`` without reading anything: fetching and decoding happen once,
later, in ``data/media``, whose ``kinds`` table says which extensions and MIME types are
which modality. It is a helper of the format modules, not a format itself.
"""

from __future__ import annotations

import re
from typing import Any

from mmtune.conversation import MediaRef, Modality
from mmtune.data.formats.base import RowContext
from mmtune.data.media import kinds
from mmtune.errors import DataError

# The kinds of media, their extensions and MIME types: one table, shared with decoding.
EXTENSIONS: dict[str, Modality] = {ext: t.kind for ext, t in kinds.BY_EXTENSION.items()}
_DATA_URI_RE = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*),", re.IGNORECASE)


def modality_of_name(name: str) -> Modality | None:
    """Modality from a file name or URL's extension (a URL's query string and fragment ignored)."""
    return kinds.kind_of_name(name)


def mime_of_name(name: str) -> str | None:
    """The MIME type of a document name (a PDF and a text file are both 'document'), so that
    ``data/documents`` can tell them apart once the name is gone (bare base64)."""
    t = kinds.type_of_name(name)
    return t.mime if t and t.kind == "document" else None


def data_uri_mime(uri: str, field: str) -> str:
    """The MIME type of a ``data:`` URI; a DataError when the URI is malformed or has none."""
    m = _DATA_URI_RE.match(uri)
    if not m:
        raise DataError(f"malformed data URI (expected data:<mime>;base64,<data>): {uri[:40]!r}", field=field)
    if not m.group("mime"):
        raise DataError("data URI has no MIME type, so its kind of media is unknown", field=field)
    return m.group("mime").lower()


def modality_of(value: str, field: str) -> Modality:
    """Modality of a file name, URL or data URI, or a DataError that says what is accepted."""
    if value.startswith("data:"):
        mime = data_uri_mime(value, field)
        kind = kinds.kind_of_mime(mime)
        if kind is None:
            raise DataError(
                f"data URI has MIME type {mime!r}; expected image/*, audio/*, video/*, application/pdf or text/plain",
                field=field,
            )
        return kind
    kind = modality_of_name(value)
    if kind is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise DataError(
            f"cannot tell the kind of media of {value[:80]!r} from its extension (known: {known})", field=field
        )
    return kind


def is_url(value: str) -> bool:
    """http(s) URLs, the scheme in any case (``HTTP://`` is the same URL)."""
    return value[:8].lower().startswith(("http://", "https://"))


def media_ref(value: Any, ctx: RowContext, field: str, sampling_rate: int | None = None) -> MediaRef:
    """A MediaRef from a column or part value.

    Strings are http(s) URLs, data URIs or names relative to the dataset's media base; dicts
    are HF feature values; anything else (PIL image, bytes, arrays, lists of frames) is kept
    in memory.
    """
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise DataError("empty media reference", field=field)
        if is_url(value):
            return MediaRef(url=value)
        if value.startswith("data:"):
            return MediaRef(data_uri=value, mime=data_uri_mime(value, field))
        if "://" in value[:12]:
            scheme = value.split("://", 1)[0]
            raise DataError(
                f"unsupported URL scheme {scheme!r} in {value[:80]!r} (use http(s), a data URI or a file name)",
                field=field,
            )
        return MediaRef(path=value, base_dir=ctx.media_base, sampling_rate=sampling_rate)
    if isinstance(value, dict):
        if value.get("bytes"):  # undecoded HF Image/Audio/Video feature
            return MediaRef(obj=value["bytes"], sampling_rate=sampling_rate)
        if value.get("array") is not None:  # decoded HF Audio feature
            sr = value.get("sampling_rate") or sampling_rate
            return MediaRef(obj=value["array"], sampling_rate=int(sr) if sr else None)
        if value.get("path"):
            return media_ref(value["path"], ctx, field, sampling_rate)
        raise DataError(
            f"media entry has none of 'bytes', 'array' or 'path' (keys: {', '.join(map(str, value)) or 'none'})",
            field=field,
        )
    if value is None:
        raise DataError("media entry is empty (null)", field=field)
    return MediaRef(obj=value, sampling_rate=sampling_rate)


def as_list(value: Any) -> list[Any]:
    """A media column as a list: None -> [], one item -> [item]."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
