"""Gemma 4 Unified's tiny checkpoint: Gemma 4's tokenizer and decoder (``tiny/gemma4.py``) with the
encoder-free embedders: 8 px merged patches (4 px patches, 2x2) projected to ``vision_dim``, and
raw 640-sample (40 ms) waveform frames, one audio soft token each.

Images cost the processor's smallest budget, 70 merged patches (``max_soft_tokens`` cannot go lower).
Sizes used: ``hidden``, ``layers``, ``vision_dim``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.tiny import TinySizes, recipe
from mmtune.tiny.gemma4 import PATCH, POOL, SOFT_TOKENS, media_ids, text, tokenizer
from mmtune.tiny.save import save_tiny


@recipe("gemma4_unified")
def gemma4_unified(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        Gemma4UnifiedAudioFeatureExtractor,
        Gemma4UnifiedConfig,
        Gemma4UnifiedForConditionalGeneration,
        Gemma4UnifiedImageProcessor,
        Gemma4UnifiedProcessor,
        Gemma4UnifiedVideoProcessor,
    )

    tok = tokenizer("gemma4_unified")
    budget = {"patch_size": PATCH, "max_soft_tokens": SOFT_TOKENS, "pooling_kernel_size": POOL}
    processor = Gemma4UnifiedProcessor(
        feature_extractor=Gemma4UnifiedAudioFeatureExtractor(),
        image_processor=Gemma4UnifiedImageProcessor(**budget),
        video_processor=Gemma4UnifiedVideoProcessor(**budget, do_sample_frames=False),
        tokenizer=tok,
        chat_template=tok.chat_template,
        image_seq_length=SOFT_TOKENS,
    )
    config = Gemma4UnifiedConfig(
        text_config=text(tok, sizes),
        vision_config={
            "patch_size": PATCH,
            "pooling_kernel_size": POOL,
            "mm_embed_dim": sizes.vision_dim,
            "output_proj_dims": sizes.vision_dim,
            # learned x / y positions: enough for the longest side of a 70-patch image
            "mm_posemb_size": 128,
        },
        audio_config={"audio_embed_dim": 640},
        **media_ids(tok),
    )
    torch.manual_seed(seed)
    model = Gemma4UnifiedForConditionalGeneration(config)
    save_tiny(model, processor, out_dir, "gemma4_unified")
