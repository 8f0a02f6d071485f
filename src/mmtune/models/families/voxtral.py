"""Voxtral (speech understanding): a Whisper-style audio encoder, a projector, a Llama-style LM.

Voxtral's chat format exists only in mistral-common (tekken v7 with an ``audio`` section): each clip
is padded to a multiple of 30 s and becomes ``[BEGIN_AUDIO]`` + one ``[AUDIO]`` per 80 ms (375 per
30 s chunk) inside the user turn: ``<s>[INST][BEGIN_AUDIO][AUDIO]...question[/INST]answer</s>``.
``VoxtralProcessor`` hardcodes ``[AUDIO]`` = id 24 and refuses ``[AUDIO]`` in plain text, so chats
go through ``models/mistral_chat.py``; the padded clips become ``input_features``
[n_30s_chunks, mel bins, 3000] with the processor's own Whisper feature extractor.

mistral-common's v7 rules apply as they are: a conversation with audio cannot have a system
message (rows that do are reported as data errors naming that rule).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import family_template
from mmtune.models.families.mistral_small_3_1 import V7_SPECIALS
from mmtune.models.mistral_chat import MistralChatFamily, write_tiny_tekken
from mmtune.models.tiny_save import save_tiny

AUDIO_SECTION = {
    "sampling_rate": 16_000, "frame_rate": 12.5, "chunk_length_s": 30.0,
    "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400},
}


@register
class Voxtral(MistralChatFamily):
    id = "voxtral"
    model_types = ("voxtral",)
    modalities = frozenset({"audio"})
    template_names = ()  # the checkpoint's own format (mistral-common)
    chat_template = family_template("voxtral.jinja")
    eot_token = "</s>"
    media_tokens = ("[AUDIO]", "[BEGIN_AUDIO]")
    vision_pattern = r"^model\.audio_tower\."  # the "vision" group is the audio encoder here
    projector_pattern = r"^model\.multi_modal_projector\."
    language_prefix = "model.language_model"
    # AutoModelForImageTextToText rejects VoxtralConfig
    auto_model_class = "AutoModelForMultimodalLM"
    hub_example = "mistralai/Voxtral-Mini-3B-2507"
    tekken_version = "v7"
    tekken_specials = {**V7_SPECIALS, 24: "[AUDIO]", 25: "[BEGIN_AUDIO]", 34: "[TRANSCRIBE]"}

    @classmethod
    def media_tensors(cls, processor: Any, images: list, audios: list) -> dict[str, torch.Tensor]:
        """Log-mel features of the (already 30 s padded) clips, exactly as ``VoxtralProcessor`` makes them."""
        if not audios:
            return {}
        # The processor's defaults (padding to 30 s multiples, chunks of max_source_positions frames)
        # live in its kwargs machinery; reuse it rather than copy the numbers.
        kwargs = processor._merge_kwargs(return_tensors="pt")["audio_kwargs"]
        chunk = kwargs.pop("max_source_positions")
        features = processor._retrieve_input_features([a.audio_array for a in audios], chunk, **kwargs)
        return {"input_features": features}

    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, audio_dim: int = 32,
        audio_layers: int = 2, **_: Any,
    ) -> None:
        from transformers import (
            MistralCommonBackend,
            VoxtralConfig,
            VoxtralForConditionalGeneration,
            VoxtralProcessor,
            WhisperFeatureExtractor,
        )

        out_dir = Path(out_dir)
        tekken = write_tiny_tekken(out_dir / "tekken.json", cls.tekken_version, cls.tekken_specials, audio=AUDIO_SECTION)
        tok = MistralCommonBackend(tokenizer_path=str(tekken), mode="finetuning")
        processor = VoxtralProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tok)
        ids = tok.convert_tokens_to_ids
        heads = max(2, hidden // 16)
        config = VoxtralConfig(
            audio_config={
                # intermediate_size must be 4 x hidden: the projector reads 4 encoder frames per token
                "hidden_size": audio_dim, "intermediate_size": audio_dim * 4, "num_hidden_layers": audio_layers,
                "num_attention_heads": 2, "num_mel_bins": 128, "max_source_positions": 1500,
            },
            text_config={
                "model_type": "llama", "vocab_size": len(tok), "hidden_size": hidden,
                "intermediate_size": hidden * 2, "num_hidden_layers": layers, "num_attention_heads": heads,
                "num_key_value_heads": max(1, heads // 2), "head_dim": hidden // heads,
                "max_position_embeddings": 4096, "bos_token_id": ids("<s>"), "eos_token_id": ids("</s>"),
                "pad_token_id": ids("<pad>"),
            },
            audio_token_id=ids("[AUDIO]"),
        )
        torch.manual_seed(seed)
        save_tiny(VoxtralForConditionalGeneration(config), processor, out_dir, cls.id)
