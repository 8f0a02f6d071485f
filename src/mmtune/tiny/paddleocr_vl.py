"""PaddleOCR-VL's tiny checkpoint: ERNIE's special tokens (the placeholder as the tokenizer's ``image_token``),
a 2-layer SigLIP tower on 14 px patches, images between 56x56 and 112x112 px (one token per 28x28 pixels)."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.tiny import TinySizes, recipe, text_config, text_heads, vision_config
from mmtune.tiny.save import save_tiny

SPECIALS = [
    "<unk>",
    "<s>",
    "</s>",
    "<|begin_of_sentence|>",
    "<|end_of_sentence|>",
    "<|IMAGE_PLACEHOLDER|>",
    "<|IMAGE_START|>",
    "<|IMAGE_END|>",
    "<|video_pad|>",
]


@recipe("paddleocr_vl")
def paddleocr_vl(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        PaddleOCRVLConfig,
        PaddleOCRVLForConditionalGeneration,
        PaddleOCRVLImageProcessor,
        PaddleOCRVLProcessor,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("paddleocr_vl").chat_template
    tok = train_tokenizer(
        SPECIALS,
        bos="<s>",
        eos="</s>",
        pad="<unk>",
        unk="<unk>",
        # the processor reads image_token; the template opens a row with cls_token
        extra_attrs={
            "image_token": "<|IMAGE_PLACEHOLDER|>",
            "cls_token": "<|begin_of_sentence|>",
            "sep_token": "<|end_of_sentence|>",
        },
        chat_template=template,
    )
    ids = tok.convert_tokens_to_ids
    processor = PaddleOCRVLProcessor(
        image_processor=PaddleOCRVLImageProcessor(
            size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112},
            patch_size=14,
            merge_size=2,
            temporal_patch_size=1,
            image_mean=[0.5] * 3,
            image_std=[0.5] * 3,
        ),
        tokenizer=tok,
        chat_template=template,
    )
    head_dim = sizes.hidden // text_heads(sizes)
    config = PaddleOCRVLConfig(
        text_config=text_config(
            tok,
            sizes,
            head_dim=head_dim,
            max_position_embeddings=4096,
            # 3-axis rope over head_dim / 2 frequencies (the hub's [16, 24, 24] for 128-wide heads)
            rope_parameters={"rope_type": "default", "rope_theta": 500000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=ids("<s>"),
            eos_token_id=ids("</s>"),
            pad_token_id=ids("<unk>"),
        ),
        vision_config=vision_config(sizes, image_size=56, patch_size=14, spatial_merge_size=2),
        image_token_id=ids("<|IMAGE_PLACEHOLDER|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|IMAGE_START|>"),
        vision_end_token_id=ids("<|IMAGE_END|>"),
    )
    torch.manual_seed(seed)
    save_tiny(PaddleOCRVLForConditionalGeneration(config), processor, out_dir, "paddleocr_vl")
