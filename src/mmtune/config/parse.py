"""YAML -> ``Config``: every unknown key of a config reported at once, Axolotl's keys without
effect warned about once, relative paths resolved against the config's folder."""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from mmtune.config.axolotl import (
    ALWAYS_PREPROCESSES_KEYS,
    DATASET_REFUSED,
    DATASET_WITHOUT_EFFECT,
    LEGACY_ATTENTION,
    REFUSED,
    WITHOUT_EFFECT,
    is_empty,
)
from mmtune.config.datasets import DatasetConfig
from mmtune.config.schema import Config
from mmtune.errors import ConfigError

log = logging.getLogger("mmtune")


def _suggest(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    if not close:  # prefix / substring matches catch 'lora_targets' -> 'lora_target_modules'
        close = [c for c in choices if c.startswith(key) or key.rstrip("s") in c][:1]
    return f"; did you mean {close[0]!r}?" if close else ""


class _KeyReport:
    """What a config's keys need: unknown and refused keys are collected so that one error lists
    them all (one round per key would be the alternative); keys without effect are warned about
    once, in one line per reason."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.no_effect: dict[str, list[str]] = {}

    def sort(self, raw: dict, model: type[BaseModel], where: str, without: dict[str, str], refused: dict[str, str]):
        fields = list(model.model_fields)
        kept = {}
        for key, value in raw.items():
            if key in model.model_fields:
                kept[key] = value
            elif key in ALWAYS_PREPROCESSES_KEYS:
                log.debug("config key %r has no effect: mmtune always preprocesses datasets", key)
            elif where == "" and key in LEGACY_ATTENTION:
                if not is_empty(value) and "attn_implementation" not in raw:
                    kept["attn_implementation"] = LEGACY_ATTENTION[key]
            elif key in refused:
                if not is_empty(value):
                    self.problems.append(f"{where}{key}: {refused[key]}")
            elif key in without:
                if not is_empty(value):
                    self.no_effect.setdefault(without[key], []).append(f"{where}{key}")
            else:
                self.problems.append(f"unknown key {where}{key!r}{_suggest(key, fields)}")
        return kept

    def finish(self) -> None:
        if len(self.problems) == 1:
            raise ConfigError(self.problems[0])
        if self.problems:
            raise ConfigError(f"{len(self.problems)} config keys cannot be used:\n  " + "\n  ".join(self.problems))
        for reason, keys in self.no_effect.items():
            log.warning("config keys without effect here (%s): %s", reason, ", ".join(keys))


def parse_config(raw: dict, base_dir: str | os.PathLike | None = None) -> Config:
    """Validate a config dict; relative paths are resolved against ``base_dir`` later."""
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping of keys to values")
    keys = _KeyReport()
    raw = keys.sort(raw, Config, "", WITHOUT_EFFECT, REFUSED)
    for section in ("datasets", "test_datasets"):
        if isinstance(raw.get(section), list):
            raw[section] = [
                keys.sort(d, DatasetConfig, f"{section}[{i}].", DATASET_WITHOUT_EFFECT, DATASET_REFUSED)
                if isinstance(d, dict)
                else d
                for i, d in enumerate(raw[section])
            ]
    keys.finish()
    if raw.get("output_dir") in (None, ""):
        raw.pop("output_dir", None)  # empty: Axolotl's default
    try:
        cfg = Config(**raw)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "config"
            msgs.append(f"{loc}: {err['msg']} (got {err.get('input')!r})" if "input" in err else f"{loc}: {err['msg']}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(msgs)) from None
    if base_dir is not None:
        cfg = resolve_paths(cfg, Path(base_dir))
    return cfg


def resolve_paths(cfg: Config, base_dir: Path) -> Config:
    """Make dataset, media and output paths absolute relative to the config file's folder."""

    def fix(p: str | None) -> str | None:
        if p is None:
            return None
        q = Path(os.path.expanduser(p))
        if q.is_absolute():
            return str(q)
        cand = base_dir / q
        # hub ids (org/name) stay as they are when no such local path exists
        return str(cand) if cand.exists() or p.startswith(".") else p

    cfg = cfg.model_copy(deep=True)
    for d in [*cfg.datasets, *(cfg.test_datasets or [])]:
        d._as_written = d._as_written or d.path
        d.path = fix(d.path)
        d.media_dir = fix(d.media_dir)
    cfg.base_model = fix(cfg.base_model)
    cfg.lora_model_dir = fix(cfg.lora_model_dir)
    out = Path(os.path.expanduser(cfg.output_dir))
    cfg.output_dir = str(out if out.is_absolute() else base_dir / out)
    if cfg.media_roots:
        cfg.media_roots = [
            str(Path(os.path.expanduser(r)) if os.path.isabs(os.path.expanduser(r)) else base_dir / r)
            for r in cfg.media_roots
        ]
    if isinstance(cfg.resume_from_checkpoint, str):
        r = Path(os.path.expanduser(cfg.resume_from_checkpoint))
        cfg.resume_from_checkpoint = str(r if r.is_absolute() else base_dir / r)
    if cfg.dataset_prepared_path:
        p = Path(cfg.dataset_prepared_path)
        cfg.dataset_prepared_path = str(p if p.is_absolute() else base_dir / p)
    return cfg


def load_config(path: str | os.PathLike) -> Config:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(path)!r} not found")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return parse_config(raw or {}, base_dir=p.resolve().parent)
