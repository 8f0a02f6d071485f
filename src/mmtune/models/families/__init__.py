"""Family registry: finds the family from a checkpoint's config.json."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

from mmtune.errors import ConfigError
from mmtune.models.families.base import Family

_REGISTRY: dict[str, type[Family]] = {}
_LOADED = False


def register(cls: type[Family]) -> type[Family]:
    _REGISTRY[cls.id] = cls
    return cls


def _load_all() -> None:
    """Import every family module once (importing one family module alone registers only it)."""
    global _LOADED
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")
    _LOADED = True


def all_families() -> dict[str, type[Family]]:
    if not _LOADED:
        _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_family(family_id: str) -> type[Family]:
    fams = all_families()
    if family_id not in fams:
        raise ConfigError(f"unknown model family {family_id!r}; known: {', '.join(fams)}")
    return fams[family_id]


def family_for_model_type(
    model_type: str, vision_type: str | None = None, text_type: str | None = None
) -> type[Family]:
    """The family claiming ``model_type``. A family may claim ``"<model_type>/<sub-config model_type>"``:
    Pixtral checkpoints are ``llava`` with a ``pixtral`` vision tower, Ministral 3 and Mistral Small 4 are
    ``mistral3`` with a ``ministral3`` / ``mistral4`` language model. Such a claim (vision tower first)
    beats a bare model type."""
    for sub in (vision_type, text_type):
        if sub:
            for fam in all_families().values():
                if f"{model_type}/{sub}" in fam.model_types:
                    return fam
    for fam in all_families().values():
        if model_type in fam.model_types:
            return fam
    known = sorted(t for f in all_families().values() for t in f.model_types)
    raise ConfigError(f"model type {model_type!r} is not supported; supported: {', '.join(known)}")


def family_for_checkpoint(path: str) -> type[Family]:
    """Read ``config.json`` of a local folder (or the hub cache) and pick the family."""
    cfg_file = Path(path) / "config.json"
    if cfg_file.is_file():
        cfg = json.loads(cfg_file.read_text())
        # mmtune's tiny checkpoints record which recipe made them (mistral_small_3_1 vs magistral)
        if cfg.get("mmtune_family") in all_families():
            return get_family(cfg["mmtune_family"])
        vision, text = cfg.get("vision_config"), cfg.get("text_config")
        return family_for_model_type(
            cfg.get("model_type", "?"),
            vision.get("model_type") if isinstance(vision, dict) else None,
            text.get("model_type") if isinstance(text, dict) else None,
        )
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(path)
    except Exception as e:
        raise ConfigError(
            f"base_model {path!r} is neither a local checkpoint folder "
            f"nor loadable from the hub ({e.__class__.__name__})"
        ) from None
    return family_for_model_type(
        cfg.model_type,
        getattr(getattr(cfg, "vision_config", None), "model_type", None),
        getattr(getattr(cfg, "text_config", None), "model_type", None),
    )
