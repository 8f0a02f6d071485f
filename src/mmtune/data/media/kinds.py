"""The one table of media kinds: which file extensions and MIME types are images, audio, video
or documents, and the lookups every other module asks it through.

It used to be two tables (one here for decoding, one in ``data/formats/refs`` for reading
columns) that disagreed: ``.mpeg`` / ``.mpg`` were video to the formats and unknown to the
decoder, and a PDF or a text file was a ``document`` to one and ``pdf`` / ``text`` to the other.
Now a kind is one of the part types of ``conversation.Modality`` and nothing else; which kind
of document a file is (PDF, text) is the business of ``data/documents``, which reads it from the
MIME type this table gives.

Written out rather than taken from ``mimetypes``: its table comes from the system's
/etc/mime.types, so the same dataset would be read differently on different machines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmtune.conversation import MediaRef, Modality

KINDS: tuple[Modality, ...] = ("image", "audio", "video", "document")


@dataclass(frozen=True)
class MediaType:
    """One MIME type, the kind of media it holds, and the file extensions (no dot) that name it."""

    mime: str
    kind: Modality
    extensions: tuple[str, ...]


# Every extension appears once. MPEG is the one name shared by two kinds: an ``.mpeg`` / ``.mpg``
# file is a video (MPEG-1/2 program stream); MP3 audio is ``audio/mpeg`` and ``.mp3``.
MEDIA_TYPES: tuple[MediaType, ...] = (
    MediaType("image/png", "image", ("png",)),
    MediaType("image/jpeg", "image", ("jpg", "jpeg")),
    MediaType("image/webp", "image", ("webp",)),
    MediaType("image/gif", "image", ("gif",)),
    MediaType("image/bmp", "image", ("bmp",)),
    MediaType("image/tiff", "image", ("tif", "tiff")),
    MediaType("audio/wav", "audio", ("wav",)),
    MediaType("audio/mpeg", "audio", ("mp3",)),
    MediaType("audio/flac", "audio", ("flac",)),
    MediaType("audio/ogg", "audio", ("ogg", "oga")),
    MediaType("audio/opus", "audio", ("opus",)),
    MediaType("audio/mp4", "audio", ("m4a",)),
    MediaType("audio/aac", "audio", ("aac",)),
    MediaType("video/mp4", "video", ("mp4",)),
    MediaType("video/webm", "video", ("webm",)),
    MediaType("video/quicktime", "video", ("mov",)),
    MediaType("video/x-matroska", "video", ("mkv",)),
    MediaType("video/x-msvideo", "video", ("avi",)),
    MediaType("video/x-m4v", "video", ("m4v",)),
    MediaType("video/mpeg", "video", ("mpeg", "mpg")),
    MediaType("application/pdf", "document", ("pdf",)),
    MediaType("text/plain", "document", ("txt",)),
    MediaType("text/markdown", "document", ("md",)),
)

BY_EXTENSION: dict[str, MediaType] = {ext: t for t in MEDIA_TYPES for ext in t.extensions}
BY_MIME: dict[str, MediaType] = {t.mime: t for t in MEDIA_TYPES}
# The top-level types that name a kind by themselves: any image/*, audio/* or video/* (so also
# the non-standard image/jpg and audio/mp3 that datasets write). Documents must be listed.
_MAJOR_KINDS: tuple[Modality, ...] = ("image", "audio", "video")


def _bare(mime: str) -> str:
    """'image/png' from 'Image/PNG; charset=x'."""
    return mime.split(";")[0].strip().lower()


def kind_of_mime(mime: str | None) -> Modality | None:
    """The kind of media a MIME type holds, or None when it says nothing (octet-stream, text/html)."""
    if not mime:
        return None
    mime = _bare(mime)
    if mime in BY_MIME:
        return BY_MIME[mime].kind
    major = mime.split("/")[0]
    return major if major in _MAJOR_KINDS else None  # type: ignore[return-value]


def extension(name: str) -> str:
    """The lower-case extension, no dot, of a file name or URL ('' when there is none).

    A URL's query string and fragment are not part of its file name; a local file name may hold
    '?' or '#'.
    """
    if "://" in name:
        name = re.split(r"[?#]", name, maxsplit=1)[0]
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    _, dot, ext = base.rpartition(".")
    return ext.lower() if dot else ""


def type_of_name(name: str) -> MediaType | None:
    """The table entry for a file name or URL, by its extension."""
    return BY_EXTENSION.get(extension(name))


def kind_of_name(name: str) -> Modality | None:
    """The kind of media a file name or URL stands for, by its extension."""
    t = type_of_name(name)
    return t.kind if t else None


def mime_of_name(name: str) -> str | None:
    """The MIME type a file name or URL stands for, by its extension."""
    t = type_of_name(name)
    return t.mime if t else None


def data_uri_mime(uri: str) -> str | None:
    """The MIME type a ``data:`` URI declares, or None (also for anything not a data URI)."""
    head = uri[5:].split(",", 1)[0] if uri.startswith("data:") else ""
    return head.split(";")[0].strip().lower() or None


def guess_kind(ref: MediaRef) -> Modality | None:
    """What a reference holds, from its MIME type (data URI, ``ref.mime``) or file extension.

    Input formats whose media column does not say the kind can use this to pick the part type.
    """
    mime = ref.mime or (data_uri_mime(ref.data_uri) if ref.data_uri else None)
    if kind_of_mime(mime):
        return kind_of_mime(mime)
    name = ref.path or ref.url or ""
    return kind_of_name(name) if name else None
