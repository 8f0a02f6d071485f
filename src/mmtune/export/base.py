"""What an export works on: a canonical conversation with its media read into bytes.

An ``Item`` is one row ready to be checked and written: its turns (role, text and media in
order) and the notes of every lossy conversion made on the way (a PDF that became page images).
Provider modules turn an item into one JSONL record; they never read files themselves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from mmtune.data.media import MEDIA_TYPES

# MIME type -> file extension for the media files an export writes beside its JSONL.
_EXT = {t.mime: t.extensions[0] for t in MEDIA_TYPES}
_EXT.update({"video/3gpp": "3gp", "video/x-flv": "flv", "video/x-ms-wmv": "wmv"})


@dataclass(frozen=True)
class Blob:
    """One media item's bytes, its kind (image, audio, video, document) and its MIME type."""

    kind: str
    mime: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def filename(self) -> str:
        """Content-addressed, so a file many rows share is written (and uploaded) once; the name
        uses only letters, digits and a dot, which every provider's naming rule allows."""
        return f"{self.sha256[:24]}.{_EXT.get(self.mime, 'bin')}"


Piece = str | Blob


@dataclass
class Turn:
    role: str
    pieces: list[Piece] = field(default_factory=list)
    train: bool | None = None

    @property
    def text(self) -> str:
        return "".join(p for p in self.pieces if isinstance(p, str))

    def blobs(self) -> list[Blob]:
        return [p for p in self.pieces if isinstance(p, Blob)]


@dataclass
class Item:
    """One row: where it came from, its turns, and what was converted on the way."""

    dataset: str
    row: int
    turns: list[Turn]
    notes: list[str] = field(default_factory=list)

    def blobs(self) -> list[Blob]:
        return [b for t in self.turns for b in t.blobs()]

    def kinds(self) -> set[str]:
        return {b.kind for b in self.blobs()}


@dataclass(frozen=True)
class Violation:
    """A rule a row breaks: the rule's name (the same in the report, the docs and the tests) and
    the exact reason a user reads."""

    rule: str
    reason: str
