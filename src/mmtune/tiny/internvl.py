"""InternVL3's tiny checkpoint: 56 px tiles (up to 4 crops + a thumbnail), 4 tokens per tile, a Qwen2 LM."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.models.families.internvl import MEDIA
from mmtune.tiny import TinySizes, recipe
from mmtune.tiny.save import save_tiny

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *MEDIA.values()]
TILE, PATCH, RATIO = 56, 14, 0.5


@recipe("internvl")
def internvl(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("internvl").chat_template
    tok = train_tokenizer(SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", extra_attrs=MEDIA, chat_template=template)
    ids = tok.convert_tokens_to_ids
    seq_len = int((TILE // PATCH) ** 2 * RATIO**2)  # 4 tokens per tile after pixel shuffle
    processor = InternVLProcessor(
        # Up to 4 crops of 56 px by the image's aspect ratio, plus a thumbnail when cropped.
        image_processor=GotOcr2ImageProcessor(
            size={"height": TILE, "width": TILE}, crop_to_patches=True, min_patches=1, max_patches=4
        ),
        video_processor=InternVLVideoProcessor(size={"height": TILE, "width": TILE}, do_sample_frames=False),
        tokenizer=tok,
        image_seq_length=seq_len,
        chat_template=template,
    )
    hidden = sizes.hidden
    heads = max(2, hidden // 16)
    config = InternVLConfig(
        vision_config={
            "hidden_size": sizes.vision_dim,
            "intermediate_size": sizes.vision_dim * 2,
            "num_hidden_layers": sizes.vision_layers,
            "num_attention_heads": 2,
            "image_size": [TILE, TILE],
            "patch_size": [PATCH, PATCH],
        },
        text_config={
            "model_type": "qwen2",
            "vocab_size": len(tok),
            "hidden_size": hidden,
            "intermediate_size": hidden * 2,
            "num_hidden_layers": sizes.layers,
            "num_attention_heads": heads,
            "num_key_value_heads": max(1, heads // 2),
            "max_position_embeddings": 4096,
            "bos_token_id": ids("<|endoftext|>"),
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": ids("<|endoftext|>"),
            "tie_word_embeddings": True,
        },
        image_token_id=ids("<IMG_CONTEXT>"),
        image_seq_length=seq_len,
        downsample_ratio=RATIO,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    save_tiny(InternVLForConditionalGeneration(config), processor, out_dir, "internvl")
