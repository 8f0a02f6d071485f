"""LFM2-VL: ChatML turns after a BOS, a SigLIP2 (NaFlex) encoder on variable-size tiles, a hybrid LM.

The processor expands each ``<image>`` into ``<|image_start|>`` + per-tile
``<|img_row_r_col_c|>`` + ``<image>``... (+ ``<|img_thumbnail|>`` and a thumbnail) +
``<|image_end|>``; small images stay one tile. Its outputs ``pixel_values`` [n_tiles, P, 768]
(flattened patches padded to a fixed P), ``pixel_attention_mask`` [n_tiles, P] and
``spatial_shapes`` [n_tiles, 2] all concatenate across a batch, so no key needs padding.

The language model mixes short convolution blocks (``conv.in_proj`` / ``conv.out_proj``) with
attention blocks (``self_attn.{q,k,v,out}_proj``) and has a SwiGLU ``feed_forward.w1/w2/w3``;
none of those match the default ``*_proj`` patterns of other families, hence the LoRA overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template
from mmtune.models.tiny_save import save_tiny

TILE_TOKENS = [f"<|img_row_{r}_col_{c}|>" for r in range(1, 11) for c in range(1, 11)]
SPECIALS = [
    "<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>",
    "<|image_start|>", "<|image_end|>", "<|img_thumbnail|>", *TILE_TOKENS,
]


@register
class Lfm2VL(Family):
    id = "lfm2_vl"
    model_types = ("lfm2_vl",)
    modalities = frozenset({"image"})
    template_names = ()  # the checkpoint's own template (config: leave out or `tokenizer_default`)
    chat_template = family_template("lfm2_vl.jinja")
    eot_token = "<|im_end|>"
    media_tokens = ("<image>", "<|image_start|>", "<|image_end|>", "<|img_thumbnail|>", *TILE_TOKENS)
    vision_pattern = r"^model\.vision_tower\."
    projector_pattern = r"^model\.multi_modal_projector\."
    language_prefix = "model.language_model"
    hub_example = "LiquidAI/LFM2-VL-450M"

    # Attention, short-convolution and SwiGLU projections of the hybrid language model.
    lora_modules = r"(self_attn\.(q|k|v|out)_proj|conv\.(in|out)_proj|feed_forward\.w[123])"
    linear_modules = r".*\.(\w+_proj|w[123])"

    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, vision_dim: int = 32, vision_layers: int = 2, **_: Any,
    ) -> None:
        from transformers import (
            Lfm2VlConfig,
            Lfm2VlForConditionalGeneration,
            Lfm2VlImageProcessor,
            Lfm2VlProcessor,
        )

        from mmtune.models.tiny_tokenizer import train_tokenizer

        tok = train_tokenizer(
            SPECIALS, bos="<|startoftext|>", eos="<|im_end|>", pad="<|pad|>", chat_template=cls.chat_template
        )
        ids = tok.convert_tokens_to_ids
        tile, patch = 64, 16
        # Tiles of 64 px (16-px patches, 2x2 pixel-unshuffle: at most 16 tokens per tile); images
        # larger than a tile are split into 2..4 tiles plus a thumbnail.
        processor = Lfm2VlProcessor(
            image_processor=Lfm2VlImageProcessor(
                tile_size=tile, encoder_patch_size=patch, size={"height": tile, "width": tile},
                min_image_tokens=4, max_image_tokens=16, min_tiles=2, max_tiles=4, downsample_factor=2,
            ),
            tokenizer=tok,
            chat_template=cls.chat_template,
        )
        heads = max(2, hidden // 16)
        config = Lfm2VlConfig(
            text_config={
                "model_type": "lfm2", "vocab_size": len(tok), "hidden_size": hidden, "intermediate_size": hidden * 2,
                # one short-convolution block and one attention block, like the real model's mix
                "num_hidden_layers": 2, "layer_types": ["conv", "full_attention"],
                "num_attention_heads": heads, "num_key_value_heads": max(1, heads // 2),
                # keep the FFN at intermediate_size (auto-adjust would round it up to 256)
                "block_auto_adjust_ff_dim": False, "max_position_embeddings": 4096,
                "bos_token_id": ids("<|startoftext|>"), "eos_token_id": ids("<|im_end|>"),
                "pad_token_id": ids("<|pad|>"),
            },
            vision_config={
                "model_type": "siglip2_vision_model", "hidden_size": vision_dim, "intermediate_size": vision_dim * 2,
                "num_hidden_layers": vision_layers, "num_attention_heads": 2, "patch_size": patch,
                "num_patches": (tile // patch) ** 2, "vision_use_head": False,
            },
            image_token_id=ids("<image>"),
            projector_hidden_size=hidden,
            downsample_factor=2,
        )
        torch.manual_seed(seed)
        save_tiny(Lfm2VlForConditionalGeneration(config), processor, out_dir, cls.id)
