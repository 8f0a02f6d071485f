"""Llama 3.2 Vision's tiny checkpoint: 28 px tiles (up to 4), one cross-attention layer (the last)."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.tiny import TinySizes, recipe, text_config
from mmtune.tiny.save import save_tiny

# `<|python_tag|>` is looked up by MllamaProcessor.__init__, so the tokenizer must know it.
SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|python_tag|>",
    "<|finetune_right_pad_id|>",
    "<|image|>",
]
TILE = 28  # one tile = 2x2 patches of 14 px


@recipe("mllama")
def mllama(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        MllamaConfig,
        MllamaForConditionalGeneration,
        MllamaImageProcessor,
        MllamaProcessor,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("mllama").chat_template
    tok = train_tokenizer(
        SPECIALS,
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        pad="<|finetune_right_pad_id|>",
        chat_template=template,
    )
    ids = tok.convert_tokens_to_ids
    processor = MllamaProcessor(
        image_processor=MllamaImageProcessor(size={"height": TILE, "width": TILE}, max_image_tiles=4),
        tokenizer=tok,
        chat_template=template,
    )
    config = MllamaConfig(
        vision_config={
            "hidden_size": sizes.vision_dim,
            "intermediate_size": sizes.vision_dim * 2,
            "num_hidden_layers": sizes.vision_layers,
            "num_global_layers": 1,
            "attention_heads": 2,
            "image_size": TILE,
            "patch_size": 14,
            "max_num_tiles": 4,
            "intermediate_layers_indices": [0],
            # the projector input: final hidden state + one per intermediate layer
            "vision_output_dim": sizes.vision_dim * 2,
        },
        text_config=text_config(
            tok,
            sizes,
            cross_attention_layers=[sizes.layers - 1],
            max_position_embeddings=4096,
            bos_token_id=ids("<|begin_of_text|>"),
            eos_token_id=ids("<|eot_id|>"),
            pad_token_id=ids("<|finetune_right_pad_id|>"),
        ),
        image_token_index=ids("<|image|>"),
    )
    torch.manual_seed(seed)
    model = MllamaForConditionalGeneration(config)
    save_tiny(model, processor, out_dir, "mllama")
