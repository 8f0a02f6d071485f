"""Qwen3.5's tiny checkpoints (dense and MoE): a ``Qwen3_5Tokenizer`` on a locally trained vocabulary,
Qwen3-VL's processors (16 px patches, 2x2 merge), a two-layer ViT and a hybrid LM of one Gated DeltaNet
layer and one gated-attention layer per pair (the real models use three DeltaNet layers per attention
layer). The MoE recipe swaps each MLP for 4 routed experts (2 active) and a shared expert.

Sizes used: ``hidden``, ``layers``, ``vision_dim``, ``vision_layers``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import get_family
from mmtune.tiny import TinySizes, recipe, text_config
from mmtune.tiny.qwen2_vl import SPECIALS
from mmtune.tiny.qwen3_vl import qwen3_processor
from mmtune.tiny.save import save_tiny

# Plain added tokens of the real vocabulary (not special: decoding keeps them).
THINK_TOKENS = ["<think>", "</think>"]
MOE = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64}


def tokenizer(family_id: str) -> Any:
    """Qwen3.5's tokenizer class (its own pre-tokenizer regex, byte-level BPE) on a trained vocabulary."""
    from transformers import Qwen3_5Tokenizer

    from mmtune.tiny.tokenizer import train_tokenizer

    trained = json.loads(train_tokenizer(SPECIALS).backend_tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in trained["merges"]]
    tok = Qwen3_5Tokenizer(vocab=trained["vocab"], merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": SPECIALS[1:]}, replace_extra_special_tokens=False)
    tok.add_tokens(THINK_TOKENS)
    tok.chat_template = get_family(family_id).chat_template
    return tok


def config(config_cls: Any, tok: Any, sizes: TinySizes, **moe: Any) -> Any:
    ids = tok.convert_tokens_to_ids
    kinds = ["linear_attention", "full_attention"] * max(1, sizes.layers // 2)
    text = text_config(
        tok,
        sizes,
        head_dim=16,
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        layer_types=kinds[: sizes.layers - 1] + ["full_attention"],
        max_position_embeddings=4096,
        # half of each 16-dim head is rotary: 4 frequencies split over (t, h, w), interleaved as in the
        # real model (which rotates a quarter of its 256-dim heads)
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 1e7,
            "partial_rotary_factor": 0.5,
            "mrope_section": [2, 1, 1],
            "mrope_interleaved": True,
        },
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|im_end|>"),
        pad_token_id=ids("<|endoftext|>"),
        **moe,
    )
    if moe:  # the MoE text config has no dense MLP width
        text.pop("intermediate_size")
    return config_cls(
        text_config=text,
        vision_config={
            "depth": sizes.vision_layers,
            "hidden_size": sizes.vision_dim,
            "intermediate_size": sizes.vision_dim * 2,
            "num_heads": 2,
            "out_hidden_size": sizes.hidden,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )


def build(family_id: str, out_dir: Path, seed: int, sizes: TinySizes, classes: tuple[str, str], **moe: Any) -> None:
    import transformers

    config_cls, model_cls = (getattr(transformers, n) for n in classes)
    tok = tokenizer(family_id)
    processor = qwen3_processor(tok, tok.chat_template)
    torch.manual_seed(seed)
    model = model_cls(config(config_cls, tok, sizes, **moe))
    save_tiny(model, processor, out_dir, family_id)


@recipe("qwen3_5")
def qwen3_5(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    build("qwen3_5", out_dir, seed, sizes, ("Qwen3_5Config", "Qwen3_5ForConditionalGeneration"))


@recipe("qwen3_5_moe")
def qwen3_5_moe(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    build("qwen3_5_moe", out_dir, seed, sizes, ("Qwen3_5MoeConfig", "Qwen3_5MoeForConditionalGeneration"), **MOE)
