"""Voxtral's tiny checkpoint: a shrunk tekken v7 file with an ``audio`` section, a Whisper-style
audio encoder (sizes ``audio_dim`` / ``audio_layers``) and a Llama LM."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.tiny import TinySizes, recipe, text_config, text_heads
from mmtune.tiny.save import save_tiny
from mmtune.tiny.tekken import V7_SPECIALS, write_tiny_tekken

SPECIALS = {**V7_SPECIALS, 24: "[AUDIO]", 25: "[BEGIN_AUDIO]", 34: "[TRANSCRIBE]"}
AUDIO_SECTION = {
    "sampling_rate": 16_000,
    "frame_rate": 12.5,
    "chunk_length_s": 30.0,
    "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400},
}


@recipe("voxtral")
def voxtral(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        MistralCommonBackend,
        VoxtralConfig,
        VoxtralForConditionalGeneration,
        VoxtralProcessor,
        WhisperFeatureExtractor,
    )

    out_dir = Path(out_dir)
    tekken = write_tiny_tekken(out_dir / "tekken.json", "v7", SPECIALS, audio=AUDIO_SECTION)
    tok = MistralCommonBackend(tokenizer_path=str(tekken), mode="finetuning")
    processor = VoxtralProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tok)
    ids = tok.convert_tokens_to_ids
    config = VoxtralConfig(
        audio_config={
            # intermediate_size must be 4 x hidden: the projector reads 4 encoder frames per token
            "hidden_size": sizes.audio_dim,
            "intermediate_size": sizes.audio_dim * 4,
            "num_hidden_layers": sizes.audio_layers,
            "num_attention_heads": 2,
            "num_mel_bins": 128,
            "max_source_positions": 1500,
        },
        text_config=text_config(
            tok,
            sizes,
            model_type="llama",
            head_dim=sizes.hidden // text_heads(sizes),
            max_position_embeddings=4096,
            bos_token_id=ids("<s>"),
            eos_token_id=ids("</s>"),
            pad_token_id=ids("<pad>"),
        ),
        audio_token_id=ids("[AUDIO]"),
    )
    torch.manual_seed(seed)
    save_tiny(VoxtralForConditionalGeneration(config), processor, out_dir, "voxtral")
