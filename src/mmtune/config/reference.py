"""The Markdown reference of every config key (docs/config.md is this text; a test keeps them equal)."""

from __future__ import annotations

from pydantic import BaseModel

from mmtune.config.axolotl import AXOLOTL_KEYS_WITHOUT_EFFECT
from mmtune.config.datasets import DatasetConfig
from mmtune.config.schema import Config


def config_reference() -> str:
    """Markdown table of every config key (docs/config.md is this text; a test keeps them equal)."""

    def rows(model: type[BaseModel]) -> list[str]:
        out = []
        for name, f in model.model_fields.items():
            ann = getattr(f.annotation, "__name__", None) if isinstance(f.annotation, type) else None
            ann = ann or str(f.annotation).replace("typing.", "").replace("mmtune.config.", "").replace(
                "NoneType", "None"
            )
            ann = ann.replace("|", "or")
            default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
            out.append(f"| `{name}` | {ann} | {default} | {f.description or ''} |")
        return out

    head = "| key | type | default | meaning |\n|---|---|---|---|"
    return "\n".join(
        [
            "# Config reference",
            "",
            "Generated from `mmtune.config.Config` (`python -c 'import "
            "mmtune.config as c; print(c.config_reference())'`).",
            "",
            "## Top level",
            "",
            head,
            *rows(Config),
            "",
            "## `datasets:` entries",
            "",
            head,
            *rows(DatasetConfig),
            "",
            "## Axolotl keys accepted without effect (a warning names them)",
            "",
            ", ".join(f"`{k}`" for k in sorted(AXOLOTL_KEYS_WITHOUT_EFFECT)),
            "",
        ]
    )
