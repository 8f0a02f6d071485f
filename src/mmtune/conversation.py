"""The one canonical type every input format converts into (DESIGN.md, principle 1).

A ``Conversation`` is a list of ``Message`` s; each message is a list of typed parts. Media parts
carry a ``MediaRef`` that says how to get the bytes, and are decoded later, once, in the
preprocess stage, so that intake stays cheap and validation can run without decoding twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
Modality = Literal["image", "audio", "video", "document"]


@dataclass(frozen=True)
class MediaRef:
    """Where a media item comes from. Exactly one of the fields is set.

    ``path`` is resolved against ``base_dir`` (the dataset file's folder or the configured
    ``media_dir``, which may be a .zip archive). ``obj`` holds an in-memory object (a PIL image,
    an audio array, a list of frames) or raw bytes, e.g. from an HF ``Image`` feature.
    """

    path: str | None = None
    url: str | None = None
    base64: str | None = None
    data_uri: str | None = None
    obj: Any = None
    base_dir: str | None = None
    sampling_rate: int | None = None
    mime: str | None = None

    def describe(self) -> str:
        """A short human name for error messages (never the whole base64 payload)."""
        if self.path is not None:
            return repr(self.path)
        if self.url is not None:
            return repr(self.url)
        if self.data_uri is not None:
            return f"data URI ({self.data_uri[:30]}...)"
        if self.base64 is not None:
            return f"base64 data ({len(self.base64)} chars)"
        return f"in-memory {type(self.obj).__name__}"


@dataclass
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass
class MediaPart:
    """An image, audio clip, video or document. ``value`` is filled by decoding."""

    type: Modality
    ref: MediaRef
    value: Any = None


Part = TextPart | MediaPart


@dataclass
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)
    # Per-message override of whether it is trained on (Axolotl's per-message ``train`` key).
    train: bool | None = None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    def media(self) -> list[MediaPart]:
        return [p for p in self.parts if isinstance(p, MediaPart)]


@dataclass
class Conversation:
    messages: list[Message]

    def media(self) -> list[MediaPart]:
        return [m for msg in self.messages for m in msg.media()]

    def modalities(self) -> set[str]:
        return {m.type for m in self.media()}
