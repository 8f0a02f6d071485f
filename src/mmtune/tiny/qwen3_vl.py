"""Qwen3-VL's tiny checkpoint: Qwen2-VL's special tokens, 16 px patches, one DeepStack merger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import get_family
from mmtune.tiny import TinySizes, recipe, text_config
from mmtune.tiny.qwen2_vl import SPECIALS
from mmtune.tiny.save import save_tiny


def config(tok: Any, sizes: TinySizes) -> Any:
    from transformers import Qwen3VLConfig

    ids = tok.convert_tokens_to_ids
    return Qwen3VLConfig(
        text_config=text_config(
            tok,
            sizes,
            head_dim=16,
            max_position_embeddings=4096,
            # head_dim 16 -> 8 rotary frequencies split over (t, h, w), interleaved as in the real model
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 5e6,
                "mrope_section": [4, 2, 2],
                "mrope_interleaved": True,
            },
            bos_token_id=ids("<|endoftext|>"),
            eos_token_id=ids("<|im_end|>"),
            pad_token_id=ids("<|endoftext|>"),
            tie_word_embeddings=True,
        ),
        vision_config={
            # 64 learned positions = an 8x8 grid, interpolated to each image's patch grid;
            # DeepStack injects the first block's features into the first LM layer.
            "depth": sizes.vision_layers,
            "hidden_size": sizes.vision_dim,
            "intermediate_size": sizes.vision_dim * 2,
            "num_heads": 2,
            "out_hidden_size": sizes.hidden,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def qwen3_processor(tok: Any, chat_template: str) -> Any:
    """The Qwen3-VL processor of tiny checkpoints (Qwen3.5 uses the same): one token per 32x32
    pixels (16 px patches, 2x2 merge); images between 64x64 and 128x128 px, a video's frames
    together between 4 and 16 frames of 64x64."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            size={"shortest_edge": 64 * 64, "longest_edge": 128 * 128},
            patch_size=16,
            merge_size=2,
            temporal_patch_size=2,
            image_mean=[0.5] * 3,
            image_std=[0.5] * 3,
        ),
        video_processor=Qwen3VLVideoProcessor(
            size={"shortest_edge": 4 * 64 * 64, "longest_edge": 16 * 64 * 64},
            patch_size=16,
            merge_size=2,
            temporal_patch_size=2,
            do_sample_frames=False,
        ),
        tokenizer=tok,
        chat_template=chat_template,
    )


@recipe("qwen3_vl")
def qwen3_vl(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        Qwen3VLForConditionalGeneration,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("qwen3_vl").chat_template
    tok = train_tokenizer(SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=template)
    processor = qwen3_processor(tok, template)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config(tok, sizes))
    save_tiny(model, processor, out_dir, "qwen3_vl")
