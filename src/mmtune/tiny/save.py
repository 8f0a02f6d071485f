"""Saving a tiny checkpoint the way a hub checkpoint looks, shared by every recipe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_tiny(model: Any, processor: Any, out_dir: Path, family_id: str) -> None:
    """Save a tiny model + processor like a hub checkpoint and record the recipe's family id.

    ``mmtune_family`` lets ``family_for_checkpoint`` pick the exact recipe when two families share
    a ``model_type`` (e.g. mistral3 for Mistral-Small-3.1 and Magistral).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = model.config.get_text_config().pad_token_id
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    cfg_path = out_dir / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["mmtune_family"] = family_id
    cfg_path.write_text(json.dumps(cfg, indent=2))
