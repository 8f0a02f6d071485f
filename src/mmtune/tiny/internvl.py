"""InternVL3's tiny checkpoint: 56 px tiles (up to 4 crops + a thumbnail), 4 tokens per tile, a Qwen2 LM."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.models.families.internvl import MEDIA
from mmtune.tiny import TinySizes, recipe, text_config, vision_config
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
    config = InternVLConfig(
        vision_config=vision_config(sizes, image_size=[TILE, TILE], patch_size=[PATCH, PATCH]),
        text_config=text_config(
            tok,
            sizes,
            model_type="qwen2",
            max_position_embeddings=4096,
            bos_token_id=ids("<|endoftext|>"),
            eos_token_id=ids("<|im_end|>"),
            pad_token_id=ids("<|endoftext|>"),
            tie_word_embeddings=True,
        ),
        image_token_id=ids("<IMG_CONTEXT>"),
        image_seq_length=seq_len,
        downsample_ratio=RATIO,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    save_tiny(InternVLForConditionalGeneration(config), processor, out_dir, "internvl")
