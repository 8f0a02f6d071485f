"""Load a base model for a family and choose what trains: LoRA (``lora.py``) or full fine-tuning,
both through the family's module groups; the model options checked before preprocessing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from mmtune.config import Config
from mmtune.config.model_keys import unfrozen_pattern
from mmtune.errors import ConfigError
from mmtune.models.attention import attention_for
from mmtune.models.families.base import Family
from mmtune.models.lora import apply_lora, check_adapter_dir, check_lora_targets

log = logging.getLogger("mmtune")


def model_dtype(bf16: bool | str) -> torch.dtype:
    if bf16 == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if bf16 else torch.float32


def quantization_config(cfg: Config) -> Any:
    """BitsAndBytes settings for QLoRA / 8-bit; a clear error where they cannot work."""
    if not (cfg.load_in_4bit or cfg.load_in_8bit):
        return None
    what = "load_in_4bit (QLoRA)" if cfg.load_in_4bit else "load_in_8bit"
    if not torch.cuda.is_available():
        raise ConfigError(f"{what} needs a CUDA GPU (bitsandbytes quantization); none was found on this machine")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(f"{what} needs the bitsandbytes package: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    if cfg.load_in_4bit:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=model_dtype(cfg.bf16 or "auto"),
        )
    return BitsAndBytesConfig(load_in_8bit=True)


# attn_implementation -> (the package it needs, whether it needs a CUDA GPU)
_ATTENTION_NEEDS = {
    "flash_attention_2": ("flash_attn", True),
    "flash_attention_3": ("flash_attn_interface", True),
    "xformers": ("xformers", True),
    "sage_attention": ("sageattention", True),
}


def check_attention(cfg: Config) -> None:
    """An attention kernel that cannot run here is refused before anything is loaded, naming what
    is missing (transformers would fail later, after preprocessing, with an import error)."""
    impl = cfg.attn_implementation
    if not impl or impl in ("eager", "sdpa"):
        return
    if impl == "flex_attention":  # torch's FlexAttention has no backward pass on CPU
        if not torch.cuda.is_available():
            raise ConfigError(
                "attn_implementation 'flex_attention' trains only on a CUDA GPU (torch's FlexAttention has no "
                "backward pass on CPU); use attn_implementation: sdpa on this machine"
            )
        return
    if "/" in impl:  # a kernels-hub path, e.g. kernels-community/vllm-flash-attn3
        need, cuda = "kernels", True
    elif impl in _ATTENTION_NEEDS:
        need, cuda = _ATTENTION_NEEDS[impl]
    else:
        raise ConfigError(
            f"attn_implementation {impl!r} is not an attention kernel transformers knows; use eager, sdpa, "
            "flash_attention_2, flash_attention_3, flex_attention or a kernels-hub path"
        )
    import importlib.util

    missing = [] if importlib.util.find_spec(need) else [f"the {need} package"]
    if cuda and not torch.cuda.is_available():
        missing.append("a CUDA GPU")
    if missing:
        raise ConfigError(
            f"attn_implementation {impl!r} needs {' and '.join(missing)}, not found on this machine; use "
            "attn_implementation: sdpa (or remove the key)"
        )


def load_model(
    path: str, family: type[Family], dtype: torch.dtype = torch.float32, quant: Any = None, attn: str | None = None
) -> Any:
    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn:
        kwargs["attn_implementation"] = attention_for(family, path, attn)
    if quant is not None:
        kwargs["quantization_config"] = quant
    return family.load_model(path, **kwargs)


def check_model_options(cfg: Config) -> None:
    """What ``train`` would refuse about the model options, checked without loading weights: the
    attention kernel and quantization on this machine, the adapter folder, the chat encoding, then
    names (LoRA targets, unfrozen_parameters) on a meta-device model built once."""
    from mmtune.models.families import family_for_checkpoint

    check_attention(cfg)
    quantization_config(cfg)
    check_adapter_dir(cfg)
    try:
        family = family_for_checkpoint(cfg.base_model)
    except ConfigError:
        raise
    except Exception as e:  # unreadable config: loading the processor reports it next, with its reason
        log.debug("model options not checked early (%s: %s)", type(e).__name__, e)
        return
    check_mistral_common(cfg, family)
    check_packing(cfg, family)
    attention_for(family, cfg.base_model, cfg.attn_implementation)
    lora = cfg.adapter in ("lora", "qlora") and not cfg.lora_model_dir
    if not (lora or cfg.unfrozen_parameters):
        return
    try:
        model = family.meta_model(cfg.base_model)
    except Exception as e:  # a hub id without network, an unusual checkpoint: checked again at load time
        log.debug("model names not checked early (%s: %s)", type(e).__name__, e)
        return
    check_lora_targets(cfg, family, model)
    check_unfrozen(cfg, [n for n, _ in model.named_parameters()])


def check_mistral_common(cfg: Config, family: type[Family]) -> None:
    """``tokenizer_use_mistral_common``: mmtune encodes with mistral-common exactly where the hub's
    checkpoints do, so ``true`` asks for what happens anyway and ``false`` on such a family would
    train a chat format the model is never prompted with."""
    wanted = cfg.tokenizer_use_mistral_common
    if wanted is None:
        return
    if not family.mistral_common:
        log.warning(
            "tokenizer_use_mistral_common has no effect for model family %r: it encodes chats with its chat template",
            family.id,
        )
    elif not wanted:
        raise ConfigError(
            f"tokenizer_use_mistral_common: false would mistrain model family {family.id!r}: its checkpoints are "
            "prompted in mistral-common's format (tekken.json), which mmtune encodes with; remove the key"
        )
    elif Path(cfg.base_model).is_dir() and not (Path(cfg.base_model) / "tekken.json").is_file():
        log.warning(
            "tokenizer_use_mistral_common: %s has no tekken.json, so its chats are encoded with its chat template",
            cfg.base_model,
        )


def check_packing(cfg: Config, family: type[Family]) -> None:
    """``sample_packing: true`` only where the family declares its packed rows train as if alone
    (``Family.can_pack``); elsewhere rows would attend across each other or lose their positions."""
    if cfg.sample_packing and not family.can_pack:
        raise ConfigError(
            f"sample_packing: true is not supported for model family {family.id!r}: {family.pack_refusal}; "
            "set sample_packing: false"
        )


def check_unfrozen(cfg: Config, names: list[str]) -> None:
    """Every ``unfrozen_parameters`` pattern must select a parameter: one that selects nothing is a
    typo that would silently train less than asked (Axolotl only warns when all end up frozen)."""
    missing = [p for p in cfg.unfrozen_parameters or [] if not any(unfrozen_pattern(p).match(n) for n in names)]
    if missing:
        example = next((n for n in names if ".layers.0." in n), names[0] if names else "")
        raise ConfigError(
            f"unfrozen_parameters {', '.join(map(repr, missing))} matched no parameter of this model (a pattern is "
            f"matched from the start of a name and '.' is a literal dot); names look like {example!r}"
        )


def count_params(model: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def trainable_summary(model: torch.nn.Module, family: type[Family]) -> str:
    """Trained and all parameters per module group, said at the start of every run."""
    counts = {g: [0, 0] for g in ("language", "projector", "vision")}
    for name, p in model.named_parameters():
        c = counts[family.group_of(name)]
        c[0] += p.numel() if p.requires_grad else 0
        c[1] += p.numel()
    return "trainable: " + "; ".join(f"{g} {t:,} of {n:,}" for g, (t, n) in counts.items() if n)


def apply_training_mode(model: Any, cfg: Config, family: type[Family]) -> Any:
    """LoRA (on the language model by default), or full fine-tuning of every parameter unless the
    freeze keys or ``unfrozen_parameters`` say otherwise (Axolotl's default); ``freeze_mm_modules``
    then freezes the vision/audio towers and projectors in either mode."""
    if cfg.adapter in ("lora", "qlora"):
        model = apply_lora(model, cfg, family)
    else:
        _choose_full(model, family, cfg)
    if cfg.freeze_mm_modules:
        for name, p in model.named_parameters():
            if family.group_of(name) != "language":
                p.requires_grad = False
    log.info(trainable_summary(model, family))
    if count_params(model)[0] == 0:
        raise ConfigError(
            "nothing to train: every parameter is frozen (check freeze_*, freeze_mm_modules, unfrozen_parameters)"
        )
    return model


def _choose_full(model: Any, family: type[Family], cfg: Config) -> None:
    """Full fine-tuning: the parameters ``unfrozen_parameters`` selects (all when empty), less the
    groups the ``freeze_*`` keys freeze."""
    frozen = {
        "vision": bool(cfg.freeze_vision_tower),
        "projector": bool(cfg.freeze_projector),
        "language": bool(cfg.freeze_language_model),
    }
    patterns = [unfrozen_pattern(p) for p in cfg.unfrozen_parameters or []]
    check_unfrozen(cfg, [n for n, _ in model.named_parameters()])
    for name, p in model.named_parameters():
        chosen = not patterns or any(r.match(name) for r in patterns)
        p.requires_grad = chosen and not frozen[family.group_of(name)]
