"""Mistral Small 4 (Mistral3 architecture with a ``mistral4`` mixture-of-experts language model).

Mistral-Small-4-119B-2603 is a ``model_type: mistral3`` checkpoint (Pixtral vision tower, 2x2 patch
merger) whose language model is ``mistral4``: multi-head latent attention and a mixture of experts.
The registry tells it from Mistral-Small-3.1 by the language model's type (``mistral3/mistral4``).
Images and chats go through mistral-common as for Mistral-Small-3.1 (the checkpoint ships
``tekken.json``); its instruct format (v15) adds model settings, so every row opens with
``[MODEL_SETTINGS]{"reasoning_effort": ...}[/MODEL_SETTINGS]`` at the tokenizer's default effort before
the first ``[INST]`` (unsupervised), and ``[THINK]reasoning[/THINK]answer`` answers train the reasoning.

What differs for training is the language model's module names. Attention projects through low-rank
``q_a_proj`` / ``q_b_proj`` and ``kv_a_proj_with_mqa`` / ``kv_b_proj`` before ``o_proj``; the first
``first_k_dense_replace`` layers have a dense ``mlp.{gate,up,down}_proj``, the others a router
(``mlp.gate``), routed experts stored as 3-D parameters (``mlp.experts.gate_up_proj``,
``mlp.experts.down_proj``, not linear layers, so LoRA cannot wrap them) and a shared expert
(``mlp.shared_experts.{gate,up,down}_proj``). LoRA goes on all attention projections, the dense MLPs
and the shared experts by default.
"""

from __future__ import annotations

from mmtune.models.families import register
from mmtune.models.families.mistral_small_3_1 import MistralSmall31


@register
class Mistral4(MistralSmall31):
    id = "mistral4"
    model_types = ("mistral3/mistral4",)
    lora_modules = (
        r"(self_attn\.(q_a_proj|q_b_proj|kv_a_proj_with_mqa|kv_b_proj|o_proj)"
        r"|mlp\.(shared_experts\.)?(gate|up|down)_proj)"
    )
    linear_modules = r".*_proj(_with_mqa)?"
    hub_example = "mistralai/Mistral-Small-4-119B-2603"
    missing_system_note = ""
