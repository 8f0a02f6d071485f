"""Media placeholders in a conversation, filled from the row's media columns.

Many formats keep media out of the messages: the text or the parts say *where* an image goes
(``<image>`` in ShareGPT/LLaVA text, a bare ``{"type": "image"}`` part, TRL's
``{"type": "image", "index": 0}``) and an ``images`` / ``videos`` / ``audios`` column says
*what* it is. This module is that one idea, shared by the format modules: collect the
placeholders while parsing, then fill them in order (or by index), check that the counts
match, and put column items with no placeholder at all at the start of the first user turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mmtune.conversation import MediaPart, MediaRef, Message, Modality, Part, TextPart
from mmtune.data.formats.base import RowContext
from mmtune.data.formats.refs import as_list, media_ref
from mmtune.errors import DataError

# Modality -> (plural column, singular column). A singular column holds one item: a video
# given as a list of frames is one video, not one video per frame.
MEDIA_COLUMNS: dict[Modality, tuple[str, str]] = {
    "image": ("images", "image"),
    "video": ("videos", "video"),
    "audio": ("audios", "audio"),
}
TAG_RE = re.compile(r"<(image|video|audio)>")


@dataclass
class _Slot:
    part: MediaPart
    index: int | None
    field: str
    tag: bool  # written as ``<image>`` in text (else a part without data), for error messages


@dataclass
class Placeholders:
    """The placeholders of one row, in conversation order."""

    slots: list[_Slot] = field(default_factory=list)

    def add(self, kind: Modality, field: str, index: int | None = None, tag: bool = False) -> MediaPart:
        part = MediaPart(kind, MediaRef())
        self.slots.append(_Slot(part, index, field, tag))
        return part

    def split_text(self, text: str, field: str, kinds: frozenset[str]) -> list[Part]:
        """``"<image>What is it?"`` -> [image placeholder, "What is it?"] (tags of ``kinds`` only)."""
        parts: list[Part] = []
        pos = 0
        for m in TAG_RE.finditer(text):
            if m.group(1) not in kinds:
                continue
            if m.start() > pos:
                parts.append(TextPart(text[pos : m.start()]))
            parts.append(self.add(m.group(1), field, tag=True))  # type: ignore[arg-type]
            pos = m.end()
        if pos < len(text):
            parts.append(TextPart(text[pos:]))
        return parts

    def fill(self, messages: list[Message], row: dict[str, Any], ctx: RowContext) -> None:
        """Give every placeholder its item from the media columns; see the module docstring."""
        for kind in MEDIA_COLUMNS:
            col, items = media_column(row, kind)
            slots = [s for s in self.slots if s.part.type == kind]
            refs = [media_ref(v, ctx, f"{col}[{i}]") for i, v in enumerate(items)]
            if slots:
                self._fill_slots(kind, slots, refs, col, row)
            elif refs:
                first_user = next((m for m in messages if m.role == "user"), None)
                if first_user is None:
                    raise DataError(
                        f"column {col!r} has {kind}s but the row has no user turn to put them in", field=col
                    )
                first_user.parts[0:0] = [MediaPart(kind, r) for r in refs]

    @staticmethod
    def _what(kind: str, slots: list[_Slot]) -> str:
        n = len(slots)
        if all(s.tag for s in slots):
            return f"{n} <{kind}> placeholder(s) in the text"
        if not any(s.tag for s in slots):
            return f"{n} {kind} part(s) without data"
        return f"{n} {kind} placeholder(s)"

    def _fill_slots(self, kind: str, slots: list[_Slot], refs: list[MediaRef], col: str, row: dict[str, Any]) -> None:
        indexed = [s for s in slots if s.index is not None]
        if not refs and col not in row:
            raise DataError(f"{self._what(kind, slots)} but the row has no {col!r} column", field=slots[0].field)
        if indexed and len(indexed) != len(slots):
            raise DataError(
                f"some {kind} parts have an 'index' and some do not; give all or none", field=slots[0].field
            )
        if indexed:
            for s in slots:
                if not 0 <= s.index < len(refs):  # type: ignore[operator]
                    raise DataError(
                        f"{kind} part points at index {s.index} but column {col!r} has {len(refs)} item(s)",
                        field=s.field,
                    )
                s.part.ref = refs[s.index]  # type: ignore[index]
            unused = sorted(set(range(len(refs))) - {s.index for s in slots})
            if unused:
                raise DataError(f"column {col!r} items {unused} are not used by any {kind} part", field=col)
            return
        if len(slots) != len(refs):
            raise DataError(f"{self._what(kind, slots)} but {len(refs)} item(s) in column {col!r}", field=col)
        for s, ref in zip(slots, refs):
            s.part.ref = ref


def media_column(row: dict[str, Any], kind: Modality) -> tuple[str, list[Any]]:
    """(column name, items) of the row's media column for ``kind``; the plural name wins."""
    plural, singular = MEDIA_COLUMNS[kind]
    if as_list(row.get(plural)):
        return plural, as_list(row[plural])
    value = row.get(singular)
    if value is None or (isinstance(value, str) and not value.strip()):
        return plural, []
    if kind == "image":  # an image is never a list, so a list here is several images
        return singular, as_list(value)
    return singular, [value]


def tag_kinds(row: dict[str, Any]) -> frozenset[str]:
    """Modalities whose ``<tag>`` in text is a placeholder: those the row has a media column for
    (even an empty one). In a text-only dataset ``<video>`` stays text: it may be HTML."""
    return frozenset(k for k, cols in MEDIA_COLUMNS.items() if any(c in row for c in cols))
