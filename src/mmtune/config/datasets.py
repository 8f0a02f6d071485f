"""One entry of ``datasets:`` (Axolotl's ``SFTDataset`` keys that mmtune acts on)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from mmtune.config.base import Strict

# The roles of mmtune's conversations (``conversation.Role``): what ``roles`` maps source names to.
CANONICAL_ROLES = ("system", "user", "assistant", "tool")
# What ``message_property_mappings`` may rename: a message's role, its content, its per-message training flag.
MESSAGE_PROPERTIES = ("role", "content", "train")
EndMode = Literal["turn", "last", "all", "none"]


class DatasetConfig(Strict):
    """One entry of ``datasets:``."""

    path: str = Field(description="A file (.json/.jsonl/.csv/.xlsx/.parquet), a save_to_disk folder, or a hub name.")
    type: str | None = Field(None, description="Input format; detected from the rows when left out.")
    split: str = Field("train", description="A datasets split expression, slices allowed: 'train[:1%]'.")
    media_dir: str | None = Field(None, description="Folder or .zip where relative media names are looked up.")
    sheet: str | None = Field(None, description="Excel sheet name (default: the first sheet).")
    name: str | None = Field(None, description="Hub dataset configuration name.")
    data_files: str | list[str] | None = Field(None, description="Hub datasets: which data files to load.")
    revision: str | None = Field(
        None, description="Hub datasets: the commit, tag or branch to load (ignored for local paths)."
    )
    ds_type: Literal["json", "jsonl", "csv", "xlsx", "parquet", "arrow"] | None = Field(
        None,
        description="A local file's type when its extension does not say (or says otherwise): json (one JSON "
        "document, else JSON lines), jsonl, csv, xlsx, parquet, arrow.",
    )
    field_messages: str | None = Field(None, description="Column holding the conversation, when not 'messages'.")
    message_property_mappings: dict[str, str] | None = Field(
        None,
        description="Which key of each message holds its role, content and training flag, when not the "
        "format's own: {role: from, content: value} (keys: role, content, train).",
    )
    message_field_role: str | None = Field(
        None, description="Axolotl's older spelling of message_property_mappings: {role: ...}."
    )
    message_field_content: str | None = Field(
        None, description="Axolotl's older spelling of message_property_mappings: {content: ...}."
    )
    roles: dict[str, list[str]] | None = Field(
        None,
        description="The role names of the rows, per mmtune role: {user: [human], assistant: [gpt]}. Replaces the "
        "format's own names; a role not listed is read only if it is system, user, assistant or tool.",
    )
    roles_to_train: list[str] | None = Field(
        None,
        description="This dataset's roles_to_train (names listed in `roles` allowed); unset: the top-level one. "
        "[] trains no role (only messages marked train: true).",
    )
    train_on_eos: EndMode | None = Field(
        None,
        description="Which end-of-turn tokens (the model's, e.g. <|im_end|>) are trained: turn (those of trained "
        "messages), last (only the last trained message's), all, none. Empty: the top-level train_on_eos.",
    )
    train_on_eot: EndMode | None = Field(
        None, description="The same for the eot_tokens (top level); empty: this dataset's train_on_eos."
    )
    drop_system_message: bool = Field(
        False, description="Remove the rows' system message (default_system_message, if set, then applies)."
    )
    # The path as the user wrote it, for messages and reports (``path`` is made absolute).
    _as_written: str | None = PrivateAttr(None)

    @property
    def label(self) -> str:
        return self._as_written or self.path

    @field_validator("path")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("drop_system_message", mode="before")
    @classmethod
    def _empty_is_false(cls, v: Any) -> Any:
        return False if v is None else v  # `drop_system_message:` left empty in YAML

    @model_validator(mode="before")
    @classmethod
    def _legacy_message_fields(cls, data: Any) -> Any:
        """Axolotl's message_field_role / message_field_content become message_property_mappings, as
        Axolotl's own schema does; a different value for the same property is an error."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        mappings = dict(data.get("message_property_mappings") or {})
        for prop in ("role", "content"):
            legacy = data.pop(f"message_field_{prop}", None)
            if legacy is None:
                continue
            if mappings.get(prop, legacy) != legacy:
                raise ValueError(
                    f"message_field_{prop} {legacy!r} conflicts with message_property_mappings.{prop} "
                    f"{mappings[prop]!r}"
                )
            mappings[prop] = legacy
        if mappings:
            data["message_property_mappings"] = mappings
        return data

    @model_validator(mode="after")
    def _check_roles(self) -> DatasetConfig:
        """Mappings name properties and roles mmtune has; roles_to_train names roles this dataset has."""
        for prop, key in (self.message_property_mappings or {}).items():
            if prop not in MESSAGE_PROPERTIES:
                raise ValueError(
                    f"message_property_mappings: {prop!r} is not a message property mmtune reads "
                    f"({', '.join(MESSAGE_PROPERTIES)})"
                )
            if not key:
                raise ValueError(f"message_property_mappings.{prop} is empty")
        seen: dict[str, str] = {}
        for role, names in (self.roles or {}).items():
            if role not in CANONICAL_ROLES:
                raise ValueError(f"roles: {role!r} is not a role of mmtune's ({', '.join(CANONICAL_ROLES)})")
            for name in names:
                if seen.get(name.lower(), role) != role:
                    raise ValueError(f"roles: {name!r} is listed under both {seen[name.lower()]!r} and {role!r}")
                seen[name.lower()] = role
        for name in self.roles_to_train or ():
            if name not in CANONICAL_ROLES and name.lower() not in seen:
                known = ", ".join([*CANONICAL_ROLES, *(n for n in seen if n not in CANONICAL_ROLES)])
                raise ValueError(f"roles_to_train: {name!r} is not a role of this dataset ({known})")
        return self

    def role_table(self) -> dict[str, str] | None:
        """Source role name (lower case) -> mmtune role, from ``roles``; None: the format's own names.
        A role not listed keeps its name (Axolotl's rule), which mmtune reads if it is one of its roles."""
        if self.roles is None:
            return None
        table = {r: r for r in CANONICAL_ROLES}
        table.update({name.lower(): role for role, names in self.roles.items() for name in names})
        return table

    def trained_roles(self) -> tuple[str, ...] | None:
        """``roles_to_train`` as mmtune roles (source names mapped through ``roles``); None: unset."""
        if self.roles_to_train is None:
            return None
        table = self.role_table() or {}
        return tuple(dict.fromkeys(table.get(n.lower(), n) for n in self.roles_to_train))
