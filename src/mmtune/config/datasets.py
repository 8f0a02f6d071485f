"""One entry of ``datasets:`` (Axolotl's ``SFTDataset`` keys that mmtune acts on)."""

from __future__ import annotations

from pydantic import Field, PrivateAttr, field_validator

from mmtune.config.base import Strict


class DatasetConfig(Strict):
    """One entry of ``datasets:``."""

    path: str = Field(description="A file (.json/.jsonl/.csv/.xlsx/.parquet), a save_to_disk folder, or a hub name.")
    type: str | None = Field(None, description="Input format; detected from the rows when left out.")
    split: str = Field("train", description="A datasets split expression, slices allowed: 'train[:1%]'.")
    media_dir: str | None = Field(None, description="Folder or .zip where relative media names are looked up.")
    sheet: str | None = Field(None, description="Excel sheet name (default: the first sheet).")
    name: str | None = Field(None, description="Hub dataset configuration name.")
    data_files: str | list[str] | None = Field(None, description="Hub datasets: which data files to load.")
    field_messages: str | None = Field(None, description="Column holding the conversation, when not 'messages'.")
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
