"""Config keys of the model, its chat format, its adapter and what trains (Axolotl's names)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mmtune.config.base import Strict

# Axolotl's index range after an unfrozen_parameters pattern: "embed_tokens.weight$[:32000]", "...[5]".
_RANGE = re.compile(r"^(.+)\[([0-9]*)(?::([0-9]*))?\]$")


def unfrozen_pattern(pattern: str) -> re.Pattern[str]:
    """An ``unfrozen_parameters`` entry compiled as Axolotl compiles it (``freeze_layers_except``):
    a ``.`` is a literal dot unless a ``+`` follows it, and the pattern is matched from the start of a
    parameter name (``re.match``), so the same list selects the same parameters in both tools. A dot
    already escaped (``\\.``) stays one escaped dot (Axolotl would escape it twice and match nothing).
    Axolotl's index ranges, which train part of a tensor through gradient hooks (weight decay still
    moves the "frozen" part), are refused rather than silently training the whole tensor."""
    if _RANGE.match(pattern):
        raise ValueError(
            f"unfrozen_parameters {pattern!r}: an index range ('[start:end]' after the name) would train part of "
            "a tensor, which mmtune does not do; remove the range to train the whole parameter"
        )
    try:
        return re.compile(re.sub(r"(?<!\\)\.(?!\+)", r"\\.", pattern))
    except re.error as e:
        raise ValueError(f"unfrozen_parameters {pattern!r} is not a valid regex ({e})") from None


class SpecialTokens(Strict):
    """Axolotl's ``special_tokens``: which existing token of the vocabulary plays each tokenizer role."""

    bos_token: str | None = None
    eos_token: str | None = None
    pad_token: str | None = None
    unk_token: str | None = None
    additional_special_tokens: list[str] | None = None


class ModelKeys(Strict):
    # -- model -------------------------------------------------------------------------------
    base_model: str = Field(description="A hub id or a local checkpoint folder.")
    processor_type: str | None = Field(
        None, description="A transformers processor class name; empty or AutoProcessor: the family's default loading."
    )
    chat_template: str | None = Field(
        None,
        description="A template name of the model's family, 'tokenizer_default', or empty for the checkpoint's own.",
    )
    attn_implementation: str | None = Field(
        None,
        description="Attention kernel: eager, sdpa, flash_attention_2, flash_attention_3, flex_attention, or a "
        "kernels-hub path; a kernel that is not installed is refused. Axolotl's flash_attention / sdp_attention / "
        "xformers_attention / flex_attention / eager_attention flags map to it. Empty: transformers' choice.",
    )
    chat_template_jinja: str | None = Field(None, description="A Jinja chat template given inline.")
    chat_template_kwargs: dict[str, Any] | None = Field(
        None,
        description="Extra variables for the chat template, e.g. {enable_thinking: false}; a name the template "
        "does not read is an error (mistral-common checkpoints take none).",
    )
    default_system_message: str | None = Field(
        None,
        description="A system message for every conversation that has none (rows, after drop_system_message, "
        "and predict's prompts), in place of any default the chat template writes.",
    )
    eot_tokens: list[str] | None = Field(
        None,
        description="More end-of-turn tokens (e.g. [/INST]), each one token of the tokenizer: those that end a "
        "message are trained as the datasets' train_on_eot says. Empty: only the model's own end-of-turn token.",
    )
    special_tokens: SpecialTokens | None = Field(
        None,
        description="Tokenizer roles to change: {pad_token: ..., eos_token: ..., bos_token: ..., unk_token: ...}; "
        "each must already be a token of the vocabulary (new tokens would need new embeddings).",
    )
    date_string: str = Field(
        "26 Jul 2024",
        description="The 'Today Date: …' the Llama 3.2 Vision template writes in its system turn (the hub "
        "template's own fallback). A fixed date, never today's, so a row's training tokens do not change by day; "
        "set the date you will serve with. An error for families whose template prints no date.",
    )
    # -- adapter -----------------------------------------------------------------------------
    adapter: Literal["lora", "qlora"] | None = Field(
        None, description="lora, qlora (4-bit base), or empty for full fine-tuning."
    )
    lora_r: int = Field(8, gt=0, description="LoRA rank.")
    lora_alpha: int = Field(16, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_target_modules: list[str] | str | None = Field(
        None,
        description="Module names as peft matches them (a module whose name is an entry or ends with '.' + the "
        "entry, anywhere in the model: vision towers included), or one regex on full module names. Absent: the "
        "language model's attention and MLP projections.",
    )
    lora_target_parameters: list[str] | None = Field(
        None,
        description="Parameter names LoRA wraps directly (peft's target_parameters; a parameter whose name is an "
        "entry or ends with '.' + the entry), e.g. MoE expert weights such as 'experts.gate_up_proj'. Given "
        "without lora_target_modules, only these parameters get LoRA (Axolotl's meaning).",
    )
    peft_layers_to_transform: list[int] | None = Field(
        None,
        description="LoRA only on the layers with these indices (peft's layers_to_transform). With the default "
        "targets or lora_target_linear: the language model's layers; with a list of names: every numbered layer "
        "list (vision blocks too) unless peft_layers_pattern names the list. Not with a regex.",
    )
    peft_layers_pattern: list[str] | str | None = Field(
        None,
        description="The name of the layer list peft_layers_to_transform counts in (e.g. 'layers'; peft's "
        "layers_pattern).",
    )
    lora_model_dir: str | None = Field(
        None,
        description="Start from a saved LoRA adapter (a folder with adapter_config.json, e.g. an earlier run's "
        "output_dir) and train it further; its adapter_config.json sets rank, alpha and targets.",
    )
    loraplus_lr_ratio: float | None = Field(
        None,
        gt=0,
        description="LoRA+: the B matrices (and 1-D parameters) train at learning rate x this (peft's LoRA+ "
        "rule; LoRA on embeddings at 1e-6). 16 is the paper's suggestion.",
    )
    lora_target_linear: bool = Field(False, description="LoRA on every linear layer of the language model.")
    lora_modules_to_save: list[str] | None = Field(
        None, description="Modules trained fully and saved with the adapter."
    )
    merge_lora: bool = Field(
        False,
        description="After training, also merge the adapter into the base weights and save them to "
        "output_dir/merged (what `mmtune merge OUTPUT_DIR` does; docs/outputs.md).",
    )
    peft_use_dora: bool = Field(False, description="DoRA (weight-decomposed LoRA).")
    peft_use_rslora: bool = Field(False, description="rsLoRA scaling (alpha / sqrt(r)).")
    load_in_8bit: bool = Field(False, description="Load the base model in 8 bits (bitsandbytes; CUDA only).")
    load_in_4bit: bool = Field(False, description="Load the base model in 4 bits, NF4 (bitsandbytes; CUDA only).")
    # -- what trains ----------------------------------------------------------------------------
    freeze_vision_tower: bool | None = Field(
        None,
        description="Full fine-tuning: freeze the vision/audio tower (default false: every parameter trains, "
        "as in Axolotl).",
    )
    freeze_projector: bool | None = Field(None, description="Full fine-tuning: freeze the projector (default false).")
    freeze_language_model: bool | None = Field(
        None, description="Full fine-tuning: freeze the language model (default false)."
    )
    freeze_mm_modules: bool = Field(
        False,
        description="Freeze the vision/audio towers and the projectors, so that only the language model trains "
        "(Axolotl's meaning, e.g. for text-only rows); with LoRA, also LoRA weights placed inside them.",
    )
    unfrozen_parameters: list[str] | None = Field(
        None,
        description="Full fine-tuning: only the parameters matching one of these regexes train (Axolotl's rule: "
        "matched from the start of the name; '.' is a literal dot unless '+' follows). A pattern matching no "
        "parameter is an error; index ranges ('embed_tokens.weight$[:32000]') are refused.",
    )
    vision_learning_rate: float | None = Field(
        None,
        ge=0,
        description="Learning rate of the vision/audio tower's trained parameters (0: they do not move). Empty: "
        "learning_rate. The scheduler scales it like the others.",
    )
    projector_learning_rate: float | None = Field(
        None, ge=0, description="Learning rate of the projector's trained parameters. Empty: learning_rate."
    )
    tokenizer_use_mistral_common: bool | None = Field(
        None,
        description="Encode chats with mistral-common's tokenizer. The families whose hub checkpoints ship "
        "tekken.json always do (false is refused: it would train another chat format); other families: no "
        "effect.",
    )

    @field_validator("lora_target_parameters", mode="before")
    @classmethod
    def _one_parameter(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v  # Axolotl takes one name as a string too

    @field_validator("unfrozen_parameters")
    @classmethod
    def _patterns(cls, v: list[str] | None) -> list[str] | None:
        for pattern in v or []:
            unfrozen_pattern(pattern)
        return v

    @model_validator(mode="after")
    def _adapter_keys(self) -> ModelKeys:
        """Keys that only mean something with (or without) a LoRA adapter: a config that sets them in
        the other mode asks for a model mmtune would not train, so it is refused with what to do."""
        lora = [
            k
            for k in ("lora_model_dir", "loraplus_lr_ratio", "lora_target_parameters", "merge_lora")
            if getattr(self, k)
        ]
        lora += ["peft_layers_to_transform"] if self.peft_layers_to_transform is not None else []
        if lora and not self.adapter:
            raise ValueError(f"{' / '.join(lora)} apply to a LoRA adapter: set adapter: lora (or qlora)")
        if self.adapter and self.unfrozen_parameters:
            raise ValueError(
                "unfrozen_parameters chooses what full fine-tuning trains (adapter empty); with a LoRA adapter, "
                "list whole modules to train in lora_modules_to_save"
            )
        if self.peft_layers_pattern and self.peft_layers_to_transform is None:
            raise ValueError("peft_layers_pattern needs peft_layers_to_transform (the layer indices to transform)")
        return self
