"""Llama 4's tiny checkpoint: 56 px tiles pixel-shuffled to 4 tokens, a MoE LM (every second layer, 2 experts)."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.models.families.llama4 import MEDIA
from mmtune.tiny import TinySizes, recipe
from mmtune.tiny.save import save_tiny

SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|header_start|>",
    "<|header_end|>",
    "<|eot|>",
    "<|eom|>",
    *MEDIA,
    "<|python_start|>",
    "<|python_end|>",
    "<|finetune_right_pad|>",
]
TILE = 56  # 4x4 patches of 14 px, pixel-shuffled to 4 tokens per tile


@recipe("llama4")
def llama4(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        Llama4Config,
        Llama4ForConditionalGeneration,
        Llama4ImageProcessor,
        Llama4Processor,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("llama4").chat_template
    tok = train_tokenizer(
        SPECIALS,
        bos="<|begin_of_text|>",
        eos="<|eot|>",
        pad="<|finetune_right_pad|>",
        chat_template=template,
    )
    ids = tok.convert_tokens_to_ids
    processor = Llama4Processor(
        image_processor=Llama4ImageProcessor(size={"height": TILE, "width": TILE}, max_patches=4),
        tokenizer=tok,
        patch_size=14,
        pixel_shuffle_ratio=0.5,
        chat_template=template,
    )
    hidden = sizes.hidden
    heads = max(2, hidden // 16)
    config = Llama4Config(
        vision_config={
            "hidden_size": sizes.vision_dim,
            "num_hidden_layers": sizes.vision_layers,
            "num_attention_heads": 2,
            # the pixel-shuffle MLP needs intermediate = 4 x hidden at ratio 0.5
            "intermediate_size": sizes.vision_dim * 4,
            "image_size": TILE,
            "patch_size": 14,
            "vision_output_dim": hidden,
            "projector_input_dim": hidden,
            "projector_output_dim": hidden,
        },
        text_config={
            "vocab_size": len(tok),
            "hidden_size": hidden,
            "num_hidden_layers": sizes.layers,
            "num_attention_heads": heads,
            "num_key_value_heads": max(1, heads // 2),
            "head_dim": 16,
            # every second layer is a MoE layer with two experts, top-1, like Maverick's interleave
            "num_local_experts": 2,
            "num_experts_per_tok": 1,
            "interleave_moe_layer_step": 2,
            "intermediate_size": hidden,
            "intermediate_size_mlp": hidden * 2,
            "attention_chunk_size": 128,
            "max_position_embeddings": 4096,
            "bos_token_id": ids("<|begin_of_text|>"),
            "eos_token_id": ids("<|eot|>"),
            "pad_token_id": ids("<|finetune_right_pad|>"),
        },
        boi_token_index=ids("<|image_start|>"),
        eoi_token_index=ids("<|image_end|>"),
        image_token_index=ids("<|patch|>"),
    )
    torch.manual_seed(seed)
    model = Llama4ForConditionalGeneration(config)
    save_tiny(model, processor, out_dir, "llama4")
