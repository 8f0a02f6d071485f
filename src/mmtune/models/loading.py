"""Load a base model for a family, apply freezing or LoRA through the family's module groups."""

from __future__ import annotations

import logging
import re
from typing import Any

import torch

from mmtune.config import Config
from mmtune.errors import ConfigError
from mmtune.models.families.base import Family

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
    if not impl or impl in ("eager", "sdpa", "flex_attention"):
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
        kwargs["attn_implementation"] = attn
    if quant is not None:
        kwargs["quantization_config"] = quant
    return family.load_model(path, **kwargs)


def lora_targets(cfg: Config, family: type[Family]) -> str | list[str]:
    """What peft should wrap. A list of names is matched inside the language model only, so
    ``[q_proj, v_proj]`` never reaches a vision tower that happens to use the same names."""
    if cfg.lora_target_linear:
        return family.lora_linear_targets()
    t = cfg.lora_target_modules
    if t is None:
        return family.default_lora_targets()
    if isinstance(t, str):
        try:
            re.compile(t)
        except re.error as e:
            raise ConfigError(f"lora_target_modules: not a valid regex ({e})") from None
        return t
    lm = re.escape(family.language_prefix)
    names = "|".join(re.escape(x) for x in t)
    return rf"^{lm}\..*\.({names})$"


# Module types peft's LoRA wraps (transformers' GPT-2 style Conv1D is matched by name).
_LORA_TYPES = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def check_model_options(cfg: Config) -> None:
    """What ``train`` would refuse about the model options, checked without loading weights:
    the attention kernel and quantization on this machine, then the LoRA targets."""
    from mmtune.models.families import family_for_checkpoint

    check_attention(cfg)
    quantization_config(cfg)
    try:
        family = family_for_checkpoint(cfg.base_model)
    except ConfigError:
        raise
    except Exception as e:  # unreadable config: loading the processor reports it next, with its reason
        log.debug("model options not checked early (%s: %s)", type(e).__name__, e)
        return
    check_lora_targets(cfg, family)


def check_lora_targets(cfg: Config, family: type[Family]) -> None:
    """LoRA targets that match no module, or only modules peft cannot wrap, refused before any
    preprocessing: the module names come from a meta-device model built from the checkpoint's
    config (no weights read), and are matched the way peft matches a regex (``re.fullmatch``)."""
    if cfg.adapter not in ("lora", "qlora"):
        return
    target = lora_targets(cfg, family)
    try:
        model = family.meta_model(cfg.base_model)
    except Exception as e:  # a hub id without network, an unusual checkpoint: peft checks at load time
        log.debug("LoRA targets not checked early (%s: %s)", type(e).__name__, e)
        return
    names = {n: m for n, m in model.named_modules() if n and re.fullmatch(target, n)}
    wrappable = [n for n, m in names.items() if isinstance(m, _LORA_TYPES) or type(m).__name__ == "Conv1D"]
    lm = f"{family.language_prefix}."
    linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
    lm_linear = sorted(
        {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if n.startswith(lm) and isinstance(m, torch.nn.Linear)}
    )
    given = cfg.lora_target_modules if not cfg.lora_target_linear else "lora_target_linear"
    if wrappable and isinstance(given, list):  # peft would silently skip a misspelt name beside a good one
        found = {n.rsplit(".", 1)[-1] for n in wrappable}
        if missing := [x for x in given if x not in found]:
            raise ConfigError(
                f"lora_target_modules: {', '.join(map(repr, missing))} matched no module of the language model; its "
                f"linear layers are named: {', '.join(lm_linear or linear)}"
            )
    if wrappable:
        return
    if names:
        raise ConfigError(
            f"lora_target_modules {given!r} matched only modules LoRA cannot wrap ({', '.join(sorted(names)[:5])}); "
            f"the language model's linear layers are named: {', '.join(lm_linear or linear)}"
        )
    raise ConfigError(
        f"lora_target_modules {given!r} matched no module of this model; the language model's linear layers are "
        f"named: {', '.join(lm_linear or linear)}"
    )


def count_params(model: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def apply_training_mode(model: Any, cfg: Config, family: type[Family]) -> Any:
    """LoRA on the language model by default; or full fine-tuning with per-group freezing."""
    if cfg.adapter in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model

        if cfg.adapter == "qlora" or cfg.load_in_4bit or cfg.load_in_8bit:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
        lcfg = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=lora_targets(cfg, family),
            modules_to_save=cfg.lora_modules_to_save,
            use_dora=cfg.peft_use_dora,
            use_rslora=cfg.peft_use_rslora,
            task_type="CAUSAL_LM",
        )
        try:
            model = get_peft_model(model, lcfg)
        except ValueError as e:
            raise ConfigError(f"lora_target_modules matched no module of this model ({e})") from None
    else:
        _set_groups(model, family, cfg)
    trainable, total = count_params(model)
    log.info("trainable parameters: %s of %s (%.2f%%)", f"{trainable:,}", f"{total:,}", 100 * trainable / max(total, 1))
    if trainable == 0:
        raise ConfigError("nothing to train: every parameter is frozen (check freeze_* options)")
    return model


def _set_groups(model: Any, family: type[Family], cfg: Config) -> None:
    """Full fine-tuning: train the language model and projector, freeze the vision/audio tower,
    unless the ``freeze_*`` options say otherwise."""
    freeze = {
        "vision": True if cfg.freeze_vision_tower is None else cfg.freeze_vision_tower,
        "projector": False if cfg.freeze_projector is None else cfg.freeze_projector,
        "language": False if cfg.freeze_language_model is None else cfg.freeze_language_model,
    }
    for name, p in model.named_parameters():
        p.requires_grad = not freeze[family.group_of(name)]
