"""Qwen3.5 MoE (e.g. Qwen3.5-35B-A3B): Qwen3.5's template, processor and hybrid layers with a sparse
MoE block in place of every MLP.

Each block has a router (``mlp.gate``, not a linear layer), routed experts stored as two 3-D
parameters (``mlp.experts.gate_up_proj`` / ``down_proj``: no module LoRA can wrap, so LoRA leaves
them to full fine-tuning) and one shared expert of ordinary linear layers
(``mlp.shared_expert.{gate,up,down}_proj``, which the default LoRA targets reach) with its gate
``mlp.shared_expert_gate``. Everything else is ``Qwen3_5``.
"""

from __future__ import annotations

from mmtune.models.families import register
from mmtune.models.families.qwen3_5 import Qwen3_5


@register
class Qwen3_5Moe(Qwen3_5):
    id = "qwen3_5_moe"
    model_types = ("qwen3_5_moe",)
    hub_example = "Qwen/Qwen3.5-35B-A3B"
