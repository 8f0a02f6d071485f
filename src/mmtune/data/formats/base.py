"""The contract of an input format: detect rows of its shape, convert one row to a Conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mmtune.conversation import Conversation


@dataclass(frozen=True)
class RowContext:
    """What a converter knows besides the row: where relative media names are resolved."""

    media_base: str


class Format:
    name: ClassVar[str]
    # Names accepted for the dataset's ``type:`` key.
    aliases: ClassVar[tuple[str, ...]] = ()
    # When several formats detect a row, the higher priority wins (and the choice is logged).
    priority: ClassVar[int] = 0

    @classmethod
    def detect(cls, row: dict[str, Any]) -> bool:
        raise NotImplementedError

    @classmethod
    def convert(cls, row: dict[str, Any], ctx: RowContext) -> Conversation:
        raise NotImplementedError
