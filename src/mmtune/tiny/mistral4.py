"""Mistral Small 4's tiny checkpoint: Ministral 3's recipe with a ``mistral4`` language model (multi-head
latent attention; layer 0 dense, the others 4 routed experts + 1 shared expert) and a tekken v15 file whose
model settings take a reasoning effort (default ``none``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmtune.tiny import TinySizes, recipe, text_heads
from mmtune.tiny.ministral3 import V13_SPECIALS, ministral3_text, yarn
from mmtune.tiny.mistral_small_3_1 import build

V15_SPECIALS = {**V13_SPECIALS, 36: "[MODEL_SETTINGS]", 37: "[/MODEL_SETTINGS]"}
MODEL_SETTINGS = {"model_settings_builder": {"reasoning_effort": {"values": ["none", "high"], "default": "none"}}}


def mistral4_text(tok: Any, sizes: TinySizes) -> dict[str, Any]:
    """Ministral 3's tiny text config (vocabulary, sizes, special ids) with Mistral 4's attention and experts."""
    base = ministral3_text(tok, sizes)
    heads, rope_dim = text_heads(sizes), 8
    return {
        **{k: base[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers")},
        **{k: base[k] for k in ("max_position_embeddings", "bos_token_id", "eos_token_id", "pad_token_id")},
        "model_type": "mistral4",
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        # low-rank query and key/value projections; per head 8 rotary + 8 plain dims, values 16 wide
        "q_lora_rank": sizes.hidden // 2,
        "kv_lora_rank": sizes.hidden // 4,
        "qk_rope_head_dim": rope_dim,
        "qk_nope_head_dim": rope_dim,
        "v_head_dim": sizes.hidden // heads,
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
        "n_shared_experts": 1,
        "moe_intermediate_size": sizes.hidden // 2,
        "first_k_dense_replace": 1,
        "rope_parameters": {**yarn(1e4, base["max_position_embeddings"], 4.0), "partial_rotary_factor": 0.5},
    }


@recipe("mistral4")
def mistral4(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    build("mistral4", out_dir, seed, sizes, "v15", V15_SPECIALS, mistral4_text, MODEL_SETTINGS)
