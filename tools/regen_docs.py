"""Regenerate the docs that are generated from code: docs/config.md and docs/axolotl.md."""

from pathlib import Path

from mmtune.config import config_reference
from mmtune.config.reference import axolotl_reference

DOCS = Path(__file__).resolve().parents[1] / "docs"
(DOCS / "config.md").write_text(config_reference().strip() + "\n")
(DOCS / "axolotl.md").write_text(axolotl_reference().strip() + "\n")
