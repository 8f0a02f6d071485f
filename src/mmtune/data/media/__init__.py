"""MediaRef -> decoded media: RGB PIL images, mono float32 audio, ``VideoClip`` s.

One module per idea: ``kinds`` (the one table of kinds, extensions and MIME types), ``sources``
(where the bytes are: file, zip member, URL, base64, data URI, in-memory), ``image``, ``audio``
and ``video`` (decoding per kind), ``settings`` (the decode-time choices the run card records).
Every failure is a ``DataError`` whose reason names the media (``ref.describe()``) and the
cause, never a bare library traceback.

This package's names are re-exported here, where the rest of mmtune imports them from, and
``decode_media`` picks the decoder for a part's type. Documents are not decoded here:
``data/documents`` expands them into page images or text first.
"""

from __future__ import annotations

from mmtune.conversation import MediaPart
from mmtune.data.media.audio import load_audio, resample_audio
from mmtune.data.media.image import load_image, open_image, to_rgb
from mmtune.data.media.kinds import (
    KINDS,
    MEDIA_TYPES,
    MediaType,
    data_uri_mime,
    extension,
    guess_kind,
    kind_of_mime,
    kind_of_name,
    mime_of_name,
)
from mmtune.data.media.settings import MediaSettings
from mmtune.data.media.sources import Source, read_source
from mmtune.data.media.video import VideoClip, load_video, sample_indices
from mmtune.errors import DataError

__all__ = [
    "KINDS",
    "MEDIA_TYPES",
    "MediaSettings",
    "MediaType",
    "Source",
    "VideoClip",
    "data_uri_mime",
    "decode_media",
    "extension",
    "guess_kind",
    "kind_of_mime",
    "kind_of_name",
    "load_audio",
    "load_image",
    "load_video",
    "mime_of_name",
    "open_image",
    "read_source",
    "resample_audio",
    "sample_indices",
    "to_rgb",
]


def decode_media(part: MediaPart, settings: MediaSettings) -> object:
    """Decode one media part into what processors take (PIL image, float32 array, VideoClip)."""
    if part.type == "image":
        return load_image(part, settings)
    if part.type == "audio":
        return load_audio(part, settings)
    if part.type == "video":
        return load_video(part, settings)
    if part.type == "document":
        raise DataError(f"document {part.ref.describe()} was not expanded into pages or text before decoding")
    raise DataError(f"{part.type} media are not supported")
