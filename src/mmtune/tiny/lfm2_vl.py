"""LFM2-VL's tiny checkpoint: 64 px tiles of a SigLIP2 (NaFlex) encoder, a two-block hybrid LM.

Sizes used: ``hidden``, ``vision_dim``, ``vision_layers``. The language model always has two
blocks, one short-convolution block and one attention block, like the real model's mix.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.models.families.lfm2_vl import TILE_TOKENS
from mmtune.tiny import TinySizes, recipe, vision_config
from mmtune.tiny.save import save_tiny

SPECIALS = [
    "<|pad|>",
    "<|startoftext|>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<image>",
    "<|image_start|>",
    "<|image_end|>",
    "<|img_thumbnail|>",
    *TILE_TOKENS,
]
TILE, PATCH = 64, 16
LAYER_TYPES = ["conv", "full_attention"]


@recipe("lfm2_vl")
def lfm2_vl(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        Lfm2VlConfig,
        Lfm2VlForConditionalGeneration,
        Lfm2VlImageProcessor,
        Lfm2VlProcessor,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("lfm2_vl").chat_template
    tok = train_tokenizer(SPECIALS, bos="<|startoftext|>", eos="<|im_end|>", pad="<|pad|>", chat_template=template)
    ids = tok.convert_tokens_to_ids
    # Tiles of 64 px (16-px patches, 2x2 pixel-unshuffle: at most 16 tokens per tile); images
    # larger than a tile are split into 2..4 tiles plus a thumbnail.
    processor = Lfm2VlProcessor(
        image_processor=Lfm2VlImageProcessor(
            tile_size=TILE,
            encoder_patch_size=PATCH,
            size={"height": TILE, "width": TILE},
            min_image_tokens=4,
            max_image_tokens=16,
            min_tiles=2,
            max_tiles=4,
            downsample_factor=2,
        ),
        tokenizer=tok,
        chat_template=template,
    )
    hidden = sizes.hidden
    heads = max(2, hidden // 16)
    config = Lfm2VlConfig(
        text_config={
            "model_type": "lfm2",
            "vocab_size": len(tok),
            "hidden_size": hidden,
            "intermediate_size": hidden * 2,
            "num_hidden_layers": len(LAYER_TYPES),
            "layer_types": list(LAYER_TYPES),
            "num_attention_heads": heads,
            "num_key_value_heads": max(1, heads // 2),
            # keep the FFN at intermediate_size (auto-adjust would round it up to 256)
            "block_auto_adjust_ff_dim": False,
            "max_position_embeddings": 4096,
            "bos_token_id": ids("<|startoftext|>"),
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": ids("<|pad|>"),
        },
        vision_config=vision_config(
            sizes,
            model_type="siglip2_vision_model",
            patch_size=PATCH,
            num_patches=(TILE // PATCH) ** 2,
            vision_use_head=False,
        ),
        image_token_id=ids("<image>"),
        projector_hidden_size=hidden,
        downsample_factor=2,
    )
    torch.manual_seed(seed)
    save_tiny(Lfm2VlForConditionalGeneration(config), processor, out_dir, "lfm2_vl")
