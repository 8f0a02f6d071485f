"""Qwen3.5 MoE quirks: which parts of the sparse MoE block LoRA can reach.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py; the template and processor are Qwen3.5's (tests/test_family_qwen3_5.py).
"""

from __future__ import annotations

import re

import pytest
from family_checks import write_jsonl

from mmtune.config import parse_config
from mmtune.errors import ConfigError
from mmtune.models.families import get_family
from mmtune.models.loading import check_lora_targets

FAMILY = get_family("qwen3_5_moe")


def _mlp_modules(model, pattern: str) -> set[str]:
    return {n.split(".layers.")[1] for n, _ in model.named_modules() if re.fullmatch(pattern, n) and ".mlp." in n}


def test_lora_reaches_the_shared_expert_not_the_routed_ones(tiny_ckpt):
    """Routed experts are two 3-D parameters per layer (no module to wrap); the shared expert is
    plain linear layers. The router is no linear layer either; the shared expert's gate is one."""
    model = FAMILY.model_class().from_pretrained(tiny_ckpt("qwen3_5_moe"))
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    experts = "model.language_model.layers.0.mlp.experts"
    assert params[f"{experts}.gate_up_proj"].dim() == 3 and f"{experts}.gate_up_proj" not in modules
    assert _mlp_modules(model, FAMILY.default_lora_targets()) == {
        f"{i}.mlp.shared_expert.{p}_proj" for i in (0, 1) for p in ("gate", "up", "down")
    }
    linear = _mlp_modules(model, FAMILY.lora_linear_targets())
    assert linear - _mlp_modules(model, FAMILY.default_lora_targets()) == {
        "0.mlp.shared_expert_gate",
        "1.mlp.shared_expert_gate",
    }
    assert type(modules["model.language_model.layers.0.mlp.gate"]).__name__ == "Qwen3_5MoeTopKRouter"


def test_lora_target_names_match_inside_the_shared_expert(tiny_ckpt, tmp_path):
    """Axolotl's list form (``[q_proj, ..., up_proj]``) reaches the shared expert's projections and
    passes the early check; an expert parameter's name is refused as no module."""
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    base = {"base_model": str(tiny_ckpt("qwen3_5_moe")), "datasets": [{"path": str(data)}], "adapter": "lora"}
    ok = parse_config({**base, "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "down_proj", "up_proj"]})
    check_lora_targets(ok, FAMILY)
    with pytest.raises(ConfigError, match="gate_up_proj"):
        check_lora_targets(parse_config({**base, "lora_target_modules": ["gate_up_proj"]}), FAMILY)
