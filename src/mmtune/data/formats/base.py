"""The contract of an input format: detect rows of its shape, convert one row to a Conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mmtune.conversation import Conversation, Role


@dataclass(frozen=True)
class RowContext:
    """What a converter knows besides the row: where relative media names are resolved, and how the
    dataset names its message keys and roles (Axolotl's ``message_property_mappings`` and ``roles``)."""

    media_base: str
    # mmtune's message property (role, content, train) -> the key this dataset's messages use for it.
    keys: tuple[tuple[str, str], ...] = ()
    # Source role name (lower case) -> mmtune role, replacing the format's own table; None: that table.
    roles: tuple[tuple[str, str], ...] | None = None

    def key(self, prop: str, default: str) -> str:
        """The key holding ``prop`` in this dataset's messages (``default``: the format's own)."""
        return next((source for name, source in self.keys if name == prop), default)

    def mapped(self, prop: str) -> bool:
        return any(name == prop for name, _ in self.keys)

    def role_table(self, default: dict[str, Role]) -> dict[str, Role]:
        """How this dataset's role names read: its ``roles`` mapping, else the format's ``default``."""
        return default if self.roles is None else dict(self.roles)  # type: ignore[arg-type]


class Format:
    name: ClassVar[str]
    # Names accepted for the dataset's ``type:`` key.
    aliases: ClassVar[tuple[str, ...]] = ()
    # When several formats detect a row, the higher priority wins (and the choice is logged).
    priority: ClassVar[int] = 0
    # Whether rows hold messages with roles, so that a dataset's message_property_mappings / roles apply.
    message_rows: ClassVar[bool] = True

    @classmethod
    def detect(cls, row: dict[str, Any]) -> bool:
        raise NotImplementedError

    @classmethod
    def convert(cls, row: dict[str, Any], ctx: RowContext) -> Conversation:
        raise NotImplementedError
