"""Where the bytes of a media item are: ``MediaRef`` -> ``Source``, before any decoding.

A reference can be a file (relative names resolved against ``ref.base_dir``, a folder or a
``.zip``), an http(s) URL (fetched once, cached on disk by ``data/fetch``), base64, a data URI,
raw bytes, or an HF ``Image``/``Audio`` feature stored undecoded. Every decoder starts here, so
every source works for every kind, and a missing file or bad base64 is worded the same way for
all. In-memory decoded objects (a PIL image, an array of samples) have no bytes and skip this.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from mmtune.conversation import MediaRef
from mmtune.data import archive
from mmtune.data.media.kinds import data_uri_mime, kind_of_mime
from mmtune.data.media.settings import MediaSettings
from mmtune.data.media.trust import check_path
from mmtune.errors import DataError


@dataclass(frozen=True)
class Source:
    """Where the bytes of one media item are: a file path, or the bytes themselves."""

    data: str | bytes
    name: str
    mime: str | None = None

    def file(self) -> str | io.BytesIO:
        """Something Pillow, soundfile and PyAV all open."""
        return self.data if isinstance(self.data, str) else io.BytesIO(self.data)

    def head(self, n: int = 16) -> bytes:
        if isinstance(self.data, bytes):
            return self.data[:n]
        with open(self.data, "rb") as f:
            return f.read(n)

    def read(self) -> bytes:
        if isinstance(self.data, bytes):
            return self.data
        with open(self.data, "rb") as f:
            return f.read()


def _decode_base64(payload: str, kind: str, name: str) -> bytes:
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DataError(f"{kind} {name} is not valid base64") from None


def _from_path(path: str, base_dir: str | None, kind: str, settings: MediaSettings) -> Source:
    if not os.path.isabs(path) and archive.is_archive(base_dir):
        data = archive.read_member(base_dir, path, kind, settings.zip_max_members, settings.zip_max_ratio)
        return Source(data, repr(path))
    base = base_dir or "."
    full = path if os.path.isabs(path) else os.path.join(base, path)
    check_path(path, full, base, kind, settings)
    if not os.path.isfile(full):
        where = os.path.dirname(os.path.abspath(full)) if os.path.isabs(path) else os.path.abspath(base)
        raise DataError(f"{kind} {path!r} not found (looked in {where})")
    return Source(full, repr(path))


def local_file(ref: MediaRef) -> str | None:
    """The local file ``ref`` reads (the archive itself for a zip member), or None for URLs, inline
    data and objects: what a cache must watch to notice that a row's media changed."""
    path = ref.path if ref.path is not None else (ref.obj.get("path") if isinstance(ref.obj, dict) else None)
    if path is None or (isinstance(ref.obj, dict) and ref.obj.get("bytes")):
        return None
    if not os.path.isabs(path) and archive.is_archive(ref.base_dir):
        return os.path.abspath(ref.base_dir)
    return os.path.abspath(path if os.path.isabs(path) else os.path.join(ref.base_dir or ".", path))


def read_source(ref: MediaRef, kind: str, settings: MediaSettings) -> Source:
    """Locate the bytes of ``ref`` (not for in-memory decoded objects); ``kind`` words errors."""
    name = ref.describe()
    if ref.path is not None:
        src = _from_path(ref.path, ref.base_dir, kind, settings)
    elif ref.url is not None:
        if ref.url.startswith("data:"):
            return read_source(MediaRef(data_uri=ref.url, mime=ref.mime), kind, settings)
        from mmtune.data.fetch import fetch_url

        got = fetch_url(ref.url, settings)
        src = Source(got.path, name, got.mime)
    elif ref.data_uri is not None:
        head, sep, payload = ref.data_uri.partition(",")
        if not ref.data_uri.startswith("data:") or not sep:
            raise DataError(f"{kind} {name} is not a valid data URI (expected 'data:<mime>;base64,<data>')")
        if head.endswith(";base64"):
            data = _decode_base64(payload, kind, name)
        else:
            data = unquote_to_bytes(payload)
        src = Source(data, name, data_uri_mime(ref.data_uri))
    elif ref.base64 is not None:
        if ref.base64.startswith("data:"):
            return read_source(MediaRef(data_uri=ref.base64, mime=ref.mime), kind, settings)
        src = Source(_decode_base64(ref.base64, kind, name), name)
    elif isinstance(ref.obj, bytes | bytearray | memoryview):
        src = Source(bytes(ref.obj), name)
    elif isinstance(ref.obj, dict) and (ref.obj.get("bytes") or ref.obj.get("path")):
        # An HF Image/Audio feature stored undecoded.
        if ref.obj.get("bytes"):
            src = Source(bytes(ref.obj["bytes"]), name)
        else:
            src = _from_path(ref.obj["path"], ref.base_dir, kind, settings)
    else:
        raise DataError(f"{kind} {name} has no data (no path, URL, base64 or object)")
    mime = ref.mime or src.mime
    if ref.mime or (src.mime and ref.url is None):  # servers' Content-Type is too often wrong
        _check_mime(kind, mime, name)
    return Source(src.data, src.name, mime)


def _check_mime(kind: str, mime: str | None, name: str) -> None:
    """A data URI that says it is audio cannot be read as an image, and so on."""
    got = kind_of_mime(mime)
    if got is None or got == kind or kind == "document":
        return
    if kind == "video" and mime in ("image/gif", "image/webp"):
        return  # animated images are videos too
    raise DataError(f"{kind} {name} holds {mime} data, which is not {'an' if kind[0] in 'aeiou' else 'a'} {kind}")


def is_in_memory(ref: MediaRef) -> bool:
    """An in-memory decoded object, as opposed to bytes or a reference to bytes."""
    if ref.obj is None or isinstance(ref.obj, bytes | bytearray | memoryview):
        return False
    return not (isinstance(ref.obj, dict) and (ref.obj.get("bytes") or ref.obj.get("path")))
