"""SmolVLM2's tiny checkpoint: images up to 128 px split into 64 px tiles + a global tile, 4 tokens per tile."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.models.families.smolvlm2 import GRID_TOKENS
from mmtune.tiny import TinySizes, recipe, text_config, vision_config
from mmtune.tiny.save import save_tiny

SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *GRID_TOKENS,
]
TILE, PATCH, SCALE = 64, 16, 2


@recipe("smolvlm2")
def smolvlm2(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("smolvlm2").chat_template
    tok = train_tokenizer(
        SPECIALS,
        bos="<|im_start|>",
        eos="<end_of_utterance>",
        pad="<|im_end|>",
        unk="<|endoftext|>",
        chat_template=template,
    )
    ids = tok.convert_tokens_to_ids
    # Images up to 128 px are split into (up to) 2x2 tiles of 64 px plus a global tile.
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(size={"longest_edge": 2 * TILE}, max_image_size={"longest_edge": TILE}),
        video_processor=SmolVLMVideoProcessor(
            size={"longest_edge": TILE}, max_image_size={"longest_edge": TILE}, do_sample_frames=False
        ),
        tokenizer=tok,
        image_seq_len=(TILE // PATCH) ** 2 // SCALE**2,
        chat_template=template,
    )
    config = SmolVLMConfig(
        text_config=text_config(
            tok,
            sizes,
            model_type="llama",
            max_position_embeddings=4096,
            bos_token_id=ids("<|im_start|>"),
            eos_token_id=ids("<end_of_utterance>"),
            pad_token_id=ids("<|im_end|>"),
        ),
        vision_config=vision_config(sizes, image_size=TILE, patch_size=PATCH),
        scale_factor=SCALE,
        image_token_id=ids("<image>"),
        pad_token_id=ids("<|im_end|>"),
    )
    torch.manual_seed(seed)
    save_tiny(SmolVLMForConditionalGeneration(config), processor, out_dir, "smolvlm2")
