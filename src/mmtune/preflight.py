"""What ``train`` would refuse, found before preprocessing or loading a model (and by ``validate``).

Each check reads only the config and the file system: a wrong path or name costs seconds, not a
preprocessing pass and a model load.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from mmtune.config import Config
from mmtune.errors import ConfigError

# Optimizer names of transformers that need a package mmtune does not install.
_NEEDS = {"bnb": "bitsandbytes", "8bit": "bitsandbytes", "paged": "bitsandbytes", "torchao": "torchao"}


def check_paths(cfg: Config) -> None:
    base = Path(cfg.base_model)
    if base.is_file():
        raise ConfigError(f"base_model {base} is a file; give the checkpoint's folder (with config.json) or a hub id")
    if cfg.dataset_prepared_path and Path(cfg.dataset_prepared_path).is_file():
        raise ConfigError(f"dataset_prepared_path {cfg.dataset_prepared_path} is a file, not a folder")
    if Path(cfg.output_dir).is_file():
        raise ConfigError(f"output_dir {cfg.output_dir} is a file, not a folder")


def check_optimizer(cfg: Config) -> None:
    from transformers.training_args import OptimizerNames

    names = sorted(o.value for o in OptimizerNames)
    if cfg.optimizer not in names:
        import difflib

        close = difflib.get_close_matches(cfg.optimizer, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(names)}"
        raise ConfigError(f"optimizer {cfg.optimizer!r} is not a transformers optimizer{hint}")
    for marker, package in _NEEDS.items():
        if marker in cfg.optimizer and importlib.util.find_spec(package) is None:
            raise ConfigError(f"optimizer {cfg.optimizer!r} needs the {package} package: pip install {package}")


def check_split(cfg: Config, rows: int) -> None:
    """``val_set_size`` must leave at least one training row."""
    if not cfg.val_set_size or rows < 2:
        return  # nothing is held out (see train.recipe.split)
    # datasets' train_test_split rounds a fractional test size up
    held = int(cfg.val_set_size) if cfg.val_set_size >= 1 else math.ceil(cfg.val_set_size * rows)
    if rows - held < 1:
        raise ConfigError(f"val_set_size {cfg.val_set_size:g} leaves no training rows (of {rows} kept)")


def check_evaluation(cfg: Config) -> None:
    """Keys that act on evaluation results need held-out rows."""
    for key in ("load_best_model_at_end", "early_stopping_patience", "eval_metrics"):
        if getattr(cfg, key) and not (cfg.val_set_size or cfg.test_datasets):
            raise ConfigError(f"{key} needs evaluation: set val_set_size or test_datasets (no rows are held out)")


def preflight(cfg: Config, training: bool = True) -> None:
    """Every check that needs neither the data rows nor a model. ``training`` False (``validate``):
    not the optimizer's name, whose list lives in transformers' training stack (seconds to import);
    ``train`` checks it before preprocessing."""
    check_paths(cfg)
    if training:
        check_optimizer(cfg)
    check_evaluation(cfg)
