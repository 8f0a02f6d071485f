"""The output folder before a run starts: what to resume from, and never a silent overwrite.

Checked before preprocessing or loading a model, so a wrong path costs seconds, not a run.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from mmtune.config import Config
from mmtune.errors import ConfigError

log = logging.getLogger("mmtune")

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# Files a finished mmtune run leaves; their presence means the folder holds a run.
_RUN_FILES = ("mmtune_run.json", "train_metrics.json")


def checkpoints(out_dir: Path) -> list[Path]:
    """``checkpoint-N`` folders of ``out_dir``, oldest first."""
    if not out_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found)]


def prepare_output_dir(cfg: Config) -> str | None:
    """The checkpoint to resume from (or None), after checking ``output_dir`` can take this run."""
    out = Path(cfg.output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output_dir {out} is a file, not a folder")
    resume = cfg.resume_from_checkpoint
    if resume is True:
        found = checkpoints(out)
        if not found:
            raise ConfigError(f"resume_from_checkpoint: true, but {out} has no checkpoint-N folder to resume from")
        return str(found[-1])
    if resume:
        path = Path(resume)
        if not (path / "trainer_state.json").is_file():
            why = "does not exist" if not path.exists() else "is not a checkpoint folder (no trainer_state.json)"
            raise ConfigError(f"resume_from_checkpoint {path} {why}")
        return str(path)
    old = checkpoints(out)
    held = [f for f in _RUN_FILES if (out / f).exists()]
    if old or held:
        if not cfg.overwrite_output_dir:
            what = f"{len(old)} checkpoint folder(s)" if old else "a finished run"
            raise ConfigError(
                f"output_dir {out} already holds {what}; resume it (`resume_from_checkpoint: true` or "
                "`mmtune train CONFIG --resume`), choose another output_dir, or set `overwrite_output_dir: true`"
            )
        for p in old:
            shutil.rmtree(p)
        log.warning("overwriting the run in %s (overwrite_output_dir: true)", out)
    return None
