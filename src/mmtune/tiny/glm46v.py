"""GLM-4.6V's tiny checkpoint: GLM's special tokens, a 2-block vision tower on 14 px patches (one token per
28x28 pixels after the 2x2 downsample), images between 56x56 and 112x112 px, a GLM-4 text model."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.tiny import TinySizes, recipe, text_config
from mmtune.tiny.save import save_tiny

# GLM-4's control tokens in their hub order (<|endoftext|> first), then the media tokens and the think markers.
SPECIALS = [
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
    "<think>",
    "</think>",
    "/nothink",
]


@recipe("glm46v")
def glm46v(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        Glm46VConfig,
        Glm46VForConditionalGeneration,
        Glm46VImageProcessor,
        Glm46VProcessor,
        Glm46VVideoProcessor,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("glm46v").chat_template
    tok = train_tokenizer(SPECIALS, eos="<|endoftext|>", pad="<|endoftext|>", chat_template=template)
    ids = tok.convert_tokens_to_ids
    processor = Glm46VProcessor(
        image_processor=Glm46VImageProcessor(
            size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112}, patch_size=14, merge_size=2
        ),
        video_processor=Glm46VVideoProcessor(
            size={"shortest_edge": 56 * 56, "longest_edge": 4 * 112 * 112}, do_sample_frames=False
        ),
        tokenizer=tok,
        chat_template=template,
    )
    config = Glm46VConfig(
        text_config=text_config(
            tok,
            sizes,
            max_position_embeddings=4096,
            # GLM rotates half of each head (partial_rotary_factor 0.5): 4 of 8 frequencies over (t, h, w)
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 1, 1],
                "partial_rotary_factor": 0.5,
            },
            # the checkpoints stop on <|endoftext|>, <|user|> (the next turn) and <|observation|>
            eos_token_id=[ids("<|endoftext|>"), ids("<|user|>"), ids("<|observation|>")],
            pad_token_id=ids("<|endoftext|>"),
        ),
        vision_config={
            "depth": sizes.vision_layers,
            "hidden_size": sizes.vision_dim,
            "intermediate_size": sizes.vision_dim * 2,
            "num_heads": 2,
            "out_hidden_size": sizes.hidden,
            "image_size": 56,  # 4x4 learned positions, interpolated to each image's patch grid
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids("<|image|>"),
        video_token_id=ids("<|video|>"),
        image_start_token_id=ids("<|begin_of_image|>"),
        image_end_token_id=ids("<|end_of_image|>"),
        video_start_token_id=ids("<|begin_of_video|>"),
        video_end_token_id=ids("<|end_of_video|>"),
    )
    torch.manual_seed(seed)
    save_tiny(Glm46VForConditionalGeneration(config), processor, out_dir, "glm46v")
