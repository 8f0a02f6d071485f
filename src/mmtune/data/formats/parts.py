"""Content parts of a message, in the shapes datasets write them.

* mmtune / HF chat-template parts: ``{"type": "text", "text": ...}`` and
  ``{"type": "image" | "audio" | "video" | "document", <source>: ...}`` where the source key is
  ``path``, ``url``, ``base64`` or the modality's own name (``image``: a PIL image, bytes, an HF
  feature dict or a string; ``audio``: an array with ``sampling_rate``, or ``{"array",
  "sampling_rate"}``; ``video``: frames). A media part without a source is a placeholder filled
  from the row's media column (TRL rows add ``"index": i`` to point at ``images[i]``).
* OpenAI chat parts: ``image_url`` (an http(s) URL or a data URI whose MIME type decides the
  modality), ``input_audio`` (base64 + ``format``) and ``file`` (``file_data``), plus the
  Responses API's ``input_text`` / ``output_text`` / ``input_image`` / ``input_file``.

Keys whose value is None count as absent: Arrow pads every part of a column to the union of
their keys (``{"type": "text", "text": "hi", "image": None}``).
"""

from __future__ import annotations

from typing import Any

from mmtune.conversation import MediaPart, MediaRef, Message, Modality, Part, TextPart
from mmtune.data.formats.base import RowContext
from mmtune.data.formats.placeholders import Placeholders
from mmtune.data.formats.refs import (
    data_uri_mime,
    is_url,
    media_ref,
    mime_of_name,
    modality_of,
    modality_of_name,
)
from mmtune.errors import DataError

MEDIA_TYPES: tuple[Modality, ...] = ("image", "audio", "video", "document")
_SOURCE_KEYS = ("path", "url", "base64")
_AUDIO_FORMATS = {
    "mp3": "audio/mpeg",
    "mpeg": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
}


def parse_content(
    content: Any, ctx: RowContext, field: str, slots: Placeholders, tag_kinds: frozenset[str] = frozenset()
) -> list[Part]:
    """A message's ``content`` (a string, a list of parts, or None) as canonical parts.

    ``<image>``-style tags in the text become placeholders for the modalities in ``tag_kinds``
    (those the row has a media column for).
    """
    if content is None:
        return []
    if isinstance(content, str):
        return slots.split_text(content, field, tag_kinds)
    if isinstance(content, dict):  # a single part written without the list around it
        content = [content]
    if not isinstance(content, list):
        raise DataError(f"content is a {type(content).__name__}, expected a string or a list of parts", field=field)
    parts: list[Part] = []
    for j, p in enumerate(content):
        parts.extend(parse_part(p, ctx, f"{field}[{j}]", slots, tag_kinds))
    return parts


def parse_part(p: Any, ctx: RowContext, field: str, slots: Placeholders, tag_kinds: frozenset[str]) -> list[Part]:
    if isinstance(p, str):
        return slots.split_text(p, field, tag_kinds)
    if not isinstance(p, dict):
        what = "null" if p is None else f"a {type(p).__name__}"  # JSON's word, not Python's NoneType
        raise DataError(f"content part is {what}, expected an object with a 'type'", field=field)
    kind = p.get("type")
    if kind in ("text", "input_text", "output_text"):
        text = p.get("text")
        if not isinstance(text, str):
            raise DataError(f"{kind} part has no 'text' string", field=field)
        return slots.split_text(text, field, tag_kinds)
    if kind in MEDIA_TYPES:
        return [_media_part(kind, p, ctx, field, slots)]
    if kind in ("image_url", "input_image"):
        return [_image_url_part(p, ctx, field)]
    if kind == "input_audio":
        return [_input_audio_part(p, field)]
    if kind in ("file", "input_file"):
        return [_file_part(p, field)]
    if kind is None:
        raise DataError(
            f"content part has no 'type' (keys: {', '.join(k for k, v in p.items() if v is not None)})", field=field
        )
    raise DataError(
        f"unknown content part type {kind!r} (expected text, image, "
        "audio, video, document, image_url, input_audio or file)",
        field=field,
    )


def _media_part(kind: Modality, p: dict[str, Any], ctx: RowContext, field: str, slots: Placeholders) -> MediaPart:
    sources = [k for k in (*_SOURCE_KEYS, kind) if p.get(k) is not None]
    if len(sources) > 1:
        raise DataError(f"{kind} part has several sources ({', '.join(sources)}); give one", field=field)
    sr = p.get("sampling_rate")
    if not sources:
        index = p.get("index")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):  # True is not 1
            raise DataError(
                f"{kind} part 'index' is a {type(index).__name__}, expected an integer", field=f"{field}.index"
            )
        return slots.add(kind, field, index)
    key = sources[0]
    if key == "base64":
        if not isinstance(p[key], str):
            raise DataError(
                f"{kind} part 'base64' is a {type(p[key]).__name__}, expected a string", field=f"{field}.base64"
            )
        return MediaPart(kind, MediaRef(base64=p[key], mime=p.get("mime"), sampling_rate=sr))
    if key in ("path", "url") and not isinstance(p[key], str):
        raise DataError(f"{kind} part {key!r} is a {type(p[key]).__name__}, expected a string", field=f"{field}.{key}")
    return MediaPart(kind, media_ref(p[key], ctx, f"{field}.{key}", sampling_rate=sr))


def _image_url_part(p: dict[str, Any], ctx: RowContext, field: str) -> MediaPart:
    """OpenAI's ``image_url`` also carries audio and PDFs as data URIs: the MIME type decides."""
    value = p.get("image_url")
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str) or not url.strip():
        raise DataError(f"{p['type']} part has no URL (expected {{'image_url': {{'url': ...}}}})", field=field)
    kind: Modality = modality_of(url, field) if url.startswith("data:") else (modality_of_name(url) or "image")
    return MediaPart(kind, media_ref(url, ctx, field))


def _input_audio_part(p: dict[str, Any], field: str) -> MediaPart:
    value = p.get("input_audio")
    if not isinstance(value, dict) or not isinstance(value.get("data"), str):
        raise DataError(
            "input_audio part has no base64 'data' (expected {'input_audio': {'data': ..., 'format': 'wav'}})",
            field=field,
        )
    fmt = value.get("format")
    mime = _AUDIO_FORMATS.get(str(fmt).lower()) if fmt else None
    if fmt and mime is None:
        raise DataError(
            f"input_audio format {fmt!r} is not one of {', '.join(_AUDIO_FORMATS)}", field=f"{field}.format"
        )
    return MediaPart("audio", MediaRef(base64=value["data"], mime=mime))


def _file_part(p: dict[str, Any], field: str) -> MediaPart:
    # Chat Completions nests the file (``{"file": {...}}``); the Responses API does not.
    value = p.get("file") if p.get("type") == "file" else p
    if not isinstance(value, dict):
        raise DataError("file part has no 'file' object", field=field)
    data, url, name = value.get("file_data"), value.get("file_url"), value.get("filename")
    if isinstance(data, str) and data.startswith("data:"):
        return MediaPart(modality_of(data, field), MediaRef(data_uri=data, mime=data_uri_mime(data, field)))
    if isinstance(data, str):  # bare base64: the file name says what it is
        if not isinstance(name, str):
            raise DataError("file part has base64 'file_data' but no 'filename' to tell its type", field=field)
        return MediaPart(modality_of(name, field), MediaRef(base64=data, mime=mime_of_name(name)))
    if isinstance(url, str) and is_url(url):
        return MediaPart(modality_of(url, field), MediaRef(url=url))
    if isinstance(url, str) and url.strip():  # not "has no file_url": it has one, of a kind never fetched
        raise DataError(f"file part 'file_url' {url[:80]!r} is not an http(s) URL", field=field)
    if value.get("file_id") is not None:
        raise DataError(
            "file part refers to an uploaded 'file_id', which cannot be read offline; embed 'file_data'", field=field
        )
    raise DataError("file part has neither 'file_data' nor 'file_url'", field=field)


def system_column(row: dict[str, Any]) -> list[Message]:
    """The optional ``system`` column of table-like formats as a leading system message."""
    system = row.get("system")
    if system is None:
        return []
    if not isinstance(system, str):
        raise DataError(f"'system' is a {type(system).__name__}, expected a string", field="system")
    return [Message("system", [TextPart(system)])] if system.strip() else []
