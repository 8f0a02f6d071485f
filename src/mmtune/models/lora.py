"""LoRA through peft: what it wraps, checked before preprocessing, and the wrapped model.

Targets keep peft's meaning so an Axolotl config wraps the same modules here: a list entry names a
module anywhere in the model (its name equals the entry or ends with ``.entry``; vision towers
included), a string is one regex on full module names. Only an absent ``lora_target_modules`` means
mmtune's default, the language model's attention and MLP projections. The early checks match
names with peft's own matcher on a meta-device model (no weights read), so a misspelt entry that
peft would skip without a word is refused in seconds, not after preprocessing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path
from typing import Any

import torch

from mmtune.config import Config
from mmtune.errors import ConfigError
from mmtune.models.families.base import Family
from mmtune.models.legacy_names import current_spelling

log = logging.getLogger("mmtune")

# Module types peft's LoRA wraps (transformers' GPT-2 style Conv1D is matched by name).
_LORA_TYPES = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
_GROUP_LABELS = {"language": "language model", "projector": "projector", "vision": "vision/audio tower"}


def lora_targets(cfg: Config, family: type[Family]) -> str | list[str]:
    """peft's ``target_modules`` for the config. peft cannot restrict a regex to layers, so the
    default and ``lora_target_linear`` regexes carry ``peft_layers_to_transform`` themselves; with
    ``lora_target_parameters`` alone no module is targeted (Axolotl passes an empty list)."""
    layers = cfg.peft_layers_to_transform
    if cfg.lora_target_linear:
        return family.lora_linear_targets(layers)
    t = cfg.lora_target_modules
    if t is None:
        return [] if cfg.lora_target_parameters else family.default_lora_targets(layers)
    if isinstance(t, list):
        return list(t)
    try:
        re.compile(t)
    except re.error as e:
        raise ConfigError(f"lora_target_modules: not a valid regex ({e})") from None
    if layers is not None:
        raise ConfigError(
            "peft_layers_to_transform cannot restrict a lora_target_modules regex (peft refuses it): give "
            "lora_target_modules as a list of names, or write the layer numbers into the regex"
        )
    return t


_warned: set[tuple[str, str]] = set()


def lora_config(cfg: Config, family: type[Family], model: Any = None) -> Any:
    """The ``LoraConfig`` a run wraps its model with (and the early checks match names with). With
    ``model``, a regex written for transformers 4 module names is rewritten to today's names."""
    from peft import LoraConfig

    targets = lora_targets(cfg, family)
    if isinstance(targets, str) and model is not None and (new := current_spelling(model, targets)):
        if (targets, new) not in _warned:
            _warned.add((targets, new))
            log.warning(
                "lora_target_modules %r names modules as transformers 4 did; matching today's names with %r",
                targets,
                new,
            )
        targets = new
    listed = isinstance(targets, list)  # layers_to_transform works on name lists only (regexes carry it)
    try:
        return LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=targets,
            target_parameters=cfg.lora_target_parameters,
            layers_to_transform=cfg.peft_layers_to_transform if listed else None,
            layers_pattern=cfg.peft_layers_pattern if listed else None,
            modules_to_save=cfg.lora_modules_to_save,
            use_dora=cfg.peft_use_dora,
            use_rslora=cfg.peft_use_rslora,
            task_type="CAUSAL_LM",
        )
    except ValueError as e:
        raise ConfigError(f"LoRA settings do not fit together: {e}") from None


def check_adapter_dir(cfg: Config) -> None:
    """``lora_model_dir`` must be a saved LoRA adapter folder; checked before anything is loaded."""
    where = cfg.lora_model_dir
    if not where or cfg.adapter not in ("lora", "qlora"):
        return
    folder = Path(where).expanduser()
    if not folder.exists():
        raise ConfigError(
            f"lora_model_dir {where!r} does not exist (a local folder; download a hub adapter first, e.g. "
            "`hf download ORG/NAME --local-dir DIR`)"
        )
    config = folder / "adapter_config.json"
    if not config.is_file():
        raise ConfigError(
            f"lora_model_dir {where!r} holds no adapter_config.json: give the folder of a saved LoRA adapter (a "
            "LoRA run's output_dir or one of its checkpoint-N folders)"
        )
    try:
        kind = json.loads(config.read_text()).get("peft_type")
    except (OSError, ValueError) as e:
        raise ConfigError(f"lora_model_dir {where!r}: adapter_config.json is not readable JSON ({e})") from None
    if kind != "LORA":
        raise ConfigError(f"lora_model_dir {where!r} holds a {kind} adapter; mmtune continues LoRA adapters only")


def linear_layers(model: torch.nn.Module, family: type[Family]) -> str:
    """The names list entries can use, per module group (``mlp.0`` where the last part is a number)."""
    names: dict[str, set[str]] = {g: set() for g in _GROUP_LABELS}
    for n, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            parts = n.split(".")
            names[family.group_of(n)].add(".".join(parts[-2:]) if parts[-1].isdigit() else parts[-1])
    return "; ".join(f"{_GROUP_LABELS[g]}: {', '.join(sorted(v))}" for g, v in names.items() if v)


def _wrappable(module: torch.nn.Module) -> bool:
    return isinstance(module, _LORA_TYPES) or type(module).__name__ == "Conv1D"


def check_lora_targets(cfg: Config, family: type[Family], model: Any = None) -> None:
    """LoRA targets that match no module, or only modules peft cannot wrap, and list entries or
    ``lora_target_parameters`` that match nothing, refused before any preprocessing. ``model``: the
    checkpoint's meta-device model when the caller has built it already."""
    if cfg.adapter not in ("lora", "qlora") or cfg.lora_model_dir:  # a saved adapter brings its own targets
        return
    from peft.tuners.tuners_utils import check_target_module_exists

    if model is None:
        try:
            model = family.meta_model(cfg.base_model)
        except Exception as e:  # a hub id without network, an unusual checkpoint: peft checks at load time
            log.debug("LoRA targets not checked early (%s: %s)", type(e).__name__, e)
            return
    lcfg = lora_config(cfg, family, model)
    if missing := [t for t in cfg.lora_target_parameters or [] if not _has_parameter(model, t)]:
        raise ConfigError(f"lora_target_parameters: {', '.join(map(repr, missing))} matched no parameter of this model")
    if not lcfg.target_modules:  # lora_target_parameters alone
        return
    matched = {n: m for n, m in model.named_modules() if n and check_target_module_exists(lcfg, n)}
    wrappable = [n for n, m in matched.items() if _wrappable(m)]
    given = "lora_target_linear" if cfg.lora_target_linear else cfg.lora_target_modules
    layers = f" in layers {cfg.peft_layers_to_transform}" if cfg.peft_layers_to_transform is not None else ""
    hint = f"its linear layers are named: {linear_layers(model, family)}"
    if wrappable and isinstance(given, list):  # peft would silently skip a misspelt name beside a good one
        one = [dataclasses.replace(lcfg, target_modules=[x]) for x in given]
        if missing := [x for x, c in zip(given, one) if not any(check_target_module_exists(c, n) for n in wrappable)]:
            raise ConfigError(
                f"lora_target_modules: {', '.join(map(repr, missing))} matched no module of this model{layers}; {hint}"
            )
    if wrappable:
        return
    if matched:
        raise ConfigError(
            f"lora_target_modules {given!r} matched only modules LoRA cannot wrap ({', '.join(sorted(matched)[:5])}); "
            f"{hint}"
        )
    raise ConfigError(f"lora_target_modules {given!r} matched no module of this model{layers}; {hint}")


def _has_parameter(model: torch.nn.Module, target: str) -> bool:
    """peft's rule for ``target_parameters``: a parameter named ``target`` or ending with ``.target``."""
    return any(n == target or n.endswith(f".{target}") for n, _ in model.named_parameters())


def apply_lora(model: Any, cfg: Config, family: type[Family]) -> Any:
    """The model wrapped by peft: a new adapter as the config says, or the saved one of
    ``lora_model_dir`` made trainable again (its adapter_config.json decides rank, alpha, targets)."""
    from peft import PeftModel, get_peft_model

    if cfg.adapter == "qlora" or cfg.load_in_4bit or cfg.load_in_8bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    if cfg.lora_model_dir:
        check_adapter_dir(cfg)
        try:
            model = PeftModel.from_pretrained(model, cfg.lora_model_dir, is_trainable=True)
        except (ValueError, RuntimeError, KeyError) as e:
            raise ConfigError(f"lora_model_dir {cfg.lora_model_dir!r} does not fit base_model ({e})") from None
        saved = model.peft_config["default"]
        log.info(
            "LoRA adapter from lora_model_dir %s (r=%s, alpha=%s); its adapter_config.json sets rank, alpha and "
            "targets, not this config's lora_* keys",
            cfg.lora_model_dir,
            saved.r,
            saved.lora_alpha,
        )
        return model
    try:
        return get_peft_model(model, lora_config(cfg, family, model))
    except ValueError as e:
        raise ConfigError(f"lora_target_modules matched no module of this model ({e})") from None
