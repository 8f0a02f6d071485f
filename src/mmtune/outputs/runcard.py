"""The output folder describes itself (DESIGN.md, principle 6).

``mmtune_run.json`` records the resolved config, the family and the exact preprocessing
settings, so predict / evaluate / merge reproduce training-time preprocessing from the folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mmtune import __version__
from mmtune.config import Config
from mmtune.errors import MmtuneError
from mmtune.preprocess.settings import PrepSettings

RUN_CARD = "mmtune_run.json"


@dataclass
class RunCard:
    base_model: str
    family: str
    adapter: str | None
    preprocessing: PrepSettings
    config: dict
    version: str = __version__

    def save(self, out_dir: str | Path) -> None:
        data = {
            "mmtune_version": self.version,
            "base_model": self.base_model,
            "family": self.family,
            "adapter": self.adapter,
            "preprocessing": self.preprocessing.to_dict(),
            "config": self.config,
        }
        Path(out_dir, RUN_CARD).write_text(json.dumps(data, indent=2, default=str))

    @classmethod
    def load(cls, out_dir: str | Path) -> RunCard:
        p = Path(out_dir, RUN_CARD)
        if not p.is_file():
            raise MmtuneError(f"{out_dir} is not an mmtune output folder (no {RUN_CARD})")
        d = json.loads(p.read_text())
        return cls(
            d["base_model"],
            d["family"],
            d.get("adapter"),
            PrepSettings.from_dict(d["preprocessing"]),
            d.get("config", {}),
            d.get("mmtune_version", "?"),
        )

    @classmethod
    def from_config(cls, cfg: Config, settings: PrepSettings) -> RunCard:
        return cls(cfg.base_model, settings.family, cfg.adapter, settings, cfg.model_dump(mode="json"))
