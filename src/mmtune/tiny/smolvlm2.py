"""SmolVLM2's tiny checkpoint: images up to 128 px split into 64 px tiles + a global tile, 4 tokens per tile."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.models.families.smolvlm2 import GRID_TOKENS
from mmtune.tiny import TinySizes, recipe
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
    hidden = sizes.hidden
    heads = max(2, hidden // 16)
    config = SmolVLMConfig(
        text_config={
            "model_type": "llama",
            "vocab_size": len(tok),
            "hidden_size": hidden,
            "intermediate_size": hidden * 2,
            "num_hidden_layers": sizes.layers,
            "num_attention_heads": heads,
            "num_key_value_heads": max(1, heads // 2),
            "max_position_embeddings": 4096,
            "bos_token_id": ids("<|im_start|>"),
            "eos_token_id": ids("<end_of_utterance>"),
            "pad_token_id": ids("<|im_end|>"),
        },
        vision_config={
            "hidden_size": sizes.vision_dim,
            "intermediate_size": sizes.vision_dim * 2,
            "num_hidden_layers": sizes.vision_layers,
            "num_attention_heads": 2,
            "image_size": TILE,
            "patch_size": PATCH,
        },
        scale_factor=SCALE,
        image_token_id=ids("<image>"),
        pad_token_id=ids("<|im_end|>"),
    )
    torch.manual_seed(seed)
    save_tiny(SmolVLMForConditionalGeneration(config), processor, out_dir, "smolvlm2")
