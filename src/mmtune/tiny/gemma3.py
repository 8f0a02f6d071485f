"""Gemma 3's tiny checkpoint: a ``GemmaTokenizer`` with a locally trained SentencePiece-style vocabulary."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.models.families.gemma3 import MEDIA
from mmtune.tiny import TinySizes, recipe, text_config, vision_config
from mmtune.tiny.save import save_tiny

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>", *MEDIA]
SIDE, TOKENS_PER_IMAGE = 56, 4  # 4x4 patches of 14 px, average-pooled to 2x2


@recipe("gemma3")
def gemma3(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessor,
        Gemma3Processor,
        GemmaTokenizer,
    )

    from mmtune.tiny.tokenizer import train_sentencepiece_bpe

    template = get_family("gemma3").chat_template
    vocab, merges = train_sentencepiece_bpe(SPECIALS)
    tok = GemmaTokenizer(
        vocab=vocab,
        merges=merges,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        mask_token="<mask>",
        # Gemma3Processor reads these as tokenizer attributes
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
    )
    tok.add_special_tokens(
        {"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]}, replace_extra_special_tokens=False
    )
    tok.chat_template = template
    ids = tok.convert_tokens_to_ids
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessor(size={"height": SIDE, "width": SIDE}),
        tokenizer=tok,
        image_seq_length=TOKENS_PER_IMAGE,
        chat_template=template,
    )
    config = Gemma3Config(
        vision_config=vision_config(
            sizes,
            image_size=SIDE,
            patch_size=14,
            # Gemma 3 uses the patch embeddings, not SigLIP's pooling head (it would get no grad)
            vision_use_head=False,
        ),
        text_config=text_config(
            tok,
            sizes,
            head_dim=16,
            query_pre_attn_scalar=16,
            sliding_window=16,
            max_position_embeddings=4096,
            bos_token_id=ids("<bos>"),
            eos_token_id=ids("<end_of_turn>"),
            pad_token_id=ids("<pad>"),
        ),
        mm_tokens_per_image=TOKENS_PER_IMAGE,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    save_tiny(model, processor, out_dir, "gemma3")
