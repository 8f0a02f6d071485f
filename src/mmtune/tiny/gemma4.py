"""Gemma 4's tiny checkpoint: a ``GemmaTokenizer`` with a locally trained vocabulary, a two-layer ViT
with 4 px patches, a one-layer conformer audio tower and a two-layer LM with per-layer embeddings.

Images cost the processor's smallest budget, 70 soft tokens (``max_soft_tokens`` cannot go lower in
transformers): up to 280 patches of 4 px, pooled 2x2 (the real models pool 3x3, which would run the
vision tower on 630 patches per image, 5x slower here). Video frames use the same budget per frame.
Sizes used: ``hidden``, ``layers``, ``vision_dim``, ``vision_layers``, ``audio_dim``, ``audio_layers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import get_family
from mmtune.models.families.gemma4 import MEDIA
from mmtune.tiny import TinySizes, recipe, text_config
from mmtune.tiny.save import save_tiny

# The control tokens of Gemma 4's tokenizer (turns, media, thinking channel, tool calling).
SPECIALS = [
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<mask>",
    "<|turn>",
    "<turn|>",
    *MEDIA,
    "<|channel>",
    "<channel|>",
    "<|think|>",
    "<|tool>",
    "<tool|>",
    "<|tool_call>",
    "<tool_call|>",
    "<|tool_response>",
    "<tool_response|>",
    '<|"|>',
]
# Tokenizer attributes Gemma4Processor reads.
PROCESSOR_TOKENS = {
    "image_token": "<|image|>",
    "boi_token": "<|image>",
    "eoi_token": "<image|>",
    "audio_token": "<|audio|>",
    "boa_token": "<|audio>",
    "eoa_token": "<audio|>",
}
PATCH, POOL, SOFT_TOKENS = 4, 2, 70  # 70 is the smallest budget the image processor accepts


def tokenizer(family_id: str) -> Any:
    """The family's tokenizer: GemmaTokenizer rebuilt from a locally trained SentencePiece-style BPE."""
    from transformers import GemmaTokenizer

    from mmtune.tiny.tokenizer import train_sentencepiece_bpe

    vocab, merges = train_sentencepiece_bpe(SPECIALS)
    tok = GemmaTokenizer(
        vocab=vocab,
        merges=merges,
        pad_token="<pad>",
        eos_token="<turn|>",
        bos_token="<bos>",
        unk_token="<unk>",
        mask_token="<mask>",
        extra_special_tokens=dict(PROCESSOR_TOKENS),
    )
    tok.add_special_tokens(
        {"additional_special_tokens": [t for t in SPECIALS[5:] if t not in PROCESSOR_TOKENS.values()]},
        replace_extra_special_tokens=False,
    )
    tok.chat_template = get_family(family_id).chat_template
    return tok


def text(tok: Any, sizes: TinySizes, **extra: Any) -> dict[str, Any]:
    """Gemma 4's decoder at toy size: one sliding and one global layer per two (the last is global),
    16-dim heads for both kinds, and a small per-layer embedding covering the whole vocabulary."""
    ids = tok.convert_tokens_to_ids
    kinds = ["sliding_attention", "full_attention"] * max(1, sizes.layers // 2)
    return text_config(
        tok,
        sizes,
        head_dim=16,
        global_head_dim=16,
        layer_types=kinds[: sizes.layers - 1] + ["full_attention"],
        sliding_window=16,
        max_position_embeddings=4096,
        bos_token_id=ids("<bos>"),
        eos_token_id=[ids("<eos>"), ids("<turn|>")],
        pad_token_id=ids("<pad>"),
        **extra,
    )


def media_ids(tok: Any) -> dict[str, int]:
    ids = tok.convert_tokens_to_ids
    return {
        "boi_token_id": ids("<|image>"),
        "eoi_token_id": ids("<image|>"),
        "image_token_id": ids("<|image|>"),
        "video_token_id": ids("<|video|>"),
        "boa_token_id": ids("<|audio>"),
        "eoa_token_index": ids("<audio|>"),
        "audio_token_id": ids("<|audio|>"),
    }


@recipe("gemma4")
def gemma4(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        Gemma4AudioFeatureExtractor,
        Gemma4Config,
        Gemma4ForConditionalGeneration,
        Gemma4ImageProcessor,
        Gemma4Processor,
        Gemma4VideoProcessor,
    )

    tok = tokenizer("gemma4")
    budget = {"patch_size": PATCH, "max_soft_tokens": SOFT_TOKENS, "pooling_kernel_size": POOL}
    processor = Gemma4Processor(
        feature_extractor=Gemma4AudioFeatureExtractor(),
        image_processor=Gemma4ImageProcessor(**budget),
        video_processor=Gemma4VideoProcessor(**budget, do_sample_frames=False),
        tokenizer=tok,
        chat_template=tok.chat_template,
        image_seq_length=SOFT_TOKENS,
    )
    config = Gemma4Config(
        text_config=text(tok, sizes, hidden_size_per_layer_input=8, vocab_size_per_layer_input=len(tok)),
        vision_config={
            "hidden_size": sizes.vision_dim,
            "intermediate_size": sizes.vision_dim * 2,
            "num_hidden_layers": sizes.vision_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": sizes.vision_dim // 2,
            "patch_size": PATCH,
            "pooling_kernel_size": POOL,
            # learned x / y positions: enough for the longest side of a 280-patch image
            "position_embedding_size": 128,
        },
        audio_config={
            "hidden_size": sizes.audio_dim,
            "num_hidden_layers": sizes.audio_layers,
            "num_attention_heads": 2,
            # the first channel count must equal the 128 mel bins (the projection assumes it)
            "subsampling_conv_channels": [128, 4],
            "output_proj_dims": sizes.audio_dim,
        },
        **media_ids(tok),
    )
    torch.manual_seed(seed)
    model = Gemma4ForConditionalGeneration(config)
    save_tiny(model, processor, out_dir, "gemma4")
