"""Config keys of the model, its chat format and its adapter (Axolotl's names)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mmtune.config.base import Strict


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
        description="Module names, or one regex on full module names. Default: the language model's attention and MLP.",
    )
    lora_target_linear: bool = Field(False, description="LoRA on every linear layer of the language model.")
    lora_modules_to_save: list[str] | None = Field(
        None, description="Modules trained fully and saved with the adapter."
    )
    peft_use_dora: bool = Field(False, description="DoRA (weight-decomposed LoRA).")
    peft_use_rslora: bool = Field(False, description="rsLoRA scaling (alpha / sqrt(r)).")
    load_in_8bit: bool = Field(False, description="Load the base model in 8 bits (bitsandbytes; CUDA only).")
    load_in_4bit: bool = Field(False, description="Load the base model in 4 bits, NF4 (bitsandbytes; CUDA only).")
    freeze_vision_tower: bool | None = Field(
        None, description="Full fine-tuning: freeze the vision/audio tower (default true)."
    )
    freeze_projector: bool | None = Field(None, description="Full fine-tuning: freeze the projector (default false).")
    freeze_language_model: bool | None = Field(
        None, description="Full fine-tuning: freeze the language model (default false)."
    )
