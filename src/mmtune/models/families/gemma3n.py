"""Gemma 3n: Gemma turns (``<start_of_turn>user`` / ``model``), a MobileNetV5 image encoder and a
conformer audio encoder.

The processor expands ``<image_soft_token>`` into ``\\n\\n<start_of_image>`` + a fixed number of
``<image_soft_token>`` + ``<end_of_image>\\n\\n`` and ``<audio_soft_token>`` likewise with the audio
markers; it returns ``token_type_ids`` (1 image, 3 audio) next to ``pixel_values`` [n, 3, H, W]
and, for audio, ``input_features`` [n_clips, frames, 128] + ``input_features_mask``.

Two constraints shape the tiny checkpoint ([source] modeling_gemma3n): token ids index three
embedding tables by range (text below ``vocab_size_per_layer_input``, then an image block, then an
audio block, each block starting with its end marker and soft token), and the audio padding
embedding is the last id of the whole vocabulary. Every clip gets a fixed number of audio soft
tokens (188 on the real model, about 30 s of audio, which is also where the feature extractor
truncates); the tiny checkpoint keeps 188 so the same clips fit both.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template
from mmtune.models.tiny_save import save_tiny

TEXT_SPECIALS = [
    "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<start_of_audio>",
]
BLOCK = 8  # ids per modality block in the tiny vocabulary (128 on the real model)
IMAGE_BLOCK = ["<end_of_image>", "<image_soft_token>", *[f"<unused_image_{i}>" for i in range(BLOCK - 2)]]
AUDIO_BLOCK = ["<end_of_audio>", "<audio_soft_token>", *[f"<unused_audio_{i}>" for i in range(BLOCK - 2)]]

# A 4-stage toy MobileNetV5 (timm block notation): 64 px in, 16x downsampling, then the
# multi-scale fusion adapter pools to 2x2 = 4 image tokens. Each stage ends with a `uir` block
# (timm fails on a stage ending in `mqa`); stages 3-4 keep one multi-query attention block each.
TINY_MOBILENET = [
    ["er_r1_k3_s2_e4_c8"],
    ["uir_r1_a3_k5_s2_e4_c16"],
    ["uir_r1_a5_k5_s2_e4_c16", "mqa_r1_k3_h2_v2_s1_d8_c16", "uir_r1_a0_k0_s1_e2_c16"],
    ["uir_r1_a5_k5_s2_e4_c16", "mqa_r1_k3_h2_s1_d8_c16", "uir_r1_a0_k0_s1_e2_c16"],
]


@register
class Gemma3n(Family):
    id = "gemma3n"
    model_types = ("gemma3n",)
    modalities = frozenset({"image", "audio"})
    template_names = ("gemma3n",)
    chat_template = family_template("gemma3n.jinja")
    eot_token = "<end_of_turn>"
    media_tokens = ("<start_of_image>", "<image_soft_token>", "<end_of_image>",
                    "<start_of_audio>", "<audio_soft_token>", "<end_of_audio>")
    # Both encoders are "vision" for freezing (the tower group); both embedders are projectors.
    vision_pattern = r"^model\.(vision_tower|audio_tower)\."
    projector_pattern = r"^model\.(embed_vision|embed_audio)\."
    language_prefix = "model.language_model"
    hub_example = "google/gemma-3n-E2B-it"

    @classmethod
    def load_model(cls, path: str, **kwargs: Any) -> Any:
        """Load, then put back the vision config's ``model_args`` as they were in config.json.

        timm builds the image encoder by editing the ``block_args`` dicts it is given (it pops
        keys and stores callables), so without this a checkpoint with explicit ``block_args`` (the
        tiny one) could not be saved again after training.
        """
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(path)
        pristine = copy.deepcopy(config.vision_config.model_args)
        model = cls.model_class().from_pretrained(path, config=config, **kwargs)
        model.config.vision_config.model_args = pristine
        return model

    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, audio_dim: int = 32,
        audio_tokens: int = 188, **_: Any,
    ) -> None:
        from timm.models._efficientnet_builder import decode_arch_def
        from transformers import (
            Gemma3nAudioFeatureExtractor,
            Gemma3nConfig,
            Gemma3nForConditionalGeneration,
            Gemma3nProcessor,
            SiglipImageProcessor,
        )

        from mmtune.models.tiny_tokenizer import train_tokenizer

        tok = train_tokenizer(
            TEXT_SPECIALS, bos="<bos>", eos="<eos>", pad="<pad>", unk="<unk>",
            added_special=IMAGE_BLOCK + AUDIO_BLOCK,
            extra_attrs={
                "image_token": "<image_soft_token>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                "audio_token": "<audio_soft_token>", "boa_token": "<start_of_audio>", "eoa_token": "<end_of_audio>",
            },
            chat_template=cls.chat_template,
        )
        ids = tok.convert_tokens_to_ids
        text_vocab = len(tok) - 2 * BLOCK
        assert ids("<end_of_image>") == text_vocab and ids("<end_of_audio>") == text_vocab + BLOCK
        image_tokens = 4
        processor = Gemma3nProcessor(
            feature_extractor=Gemma3nAudioFeatureExtractor(),
            image_processor=SiglipImageProcessor(
                size={"height": 64, "width": 64}, image_mean=[0.0] * 3, image_std=[1.0] * 3
            ),
            tokenizer=tok,
            chat_template=cls.chat_template,
            image_seq_length=image_tokens,
            audio_seq_length=audio_tokens,
        )
        heads = max(2, hidden // 16)
        block_args = decode_arch_def(TINY_MOBILENET)
        config = Gemma3nConfig(
            text_config={
                "vocab_size": len(tok), "vocab_size_per_layer_input": text_vocab, "hidden_size": hidden,
                "intermediate_size": hidden * 2, "num_hidden_layers": layers,
                "layer_types": ["sliding_attention"] * (layers - 1) + ["full_attention"],
                "num_attention_heads": heads, "num_key_value_heads": max(1, heads // 2), "head_dim": 16,
                "hidden_size_per_layer_input": 8, "laurel_rank": 4, "altup_num_inputs": 4,
                "num_kv_shared_layers": 0, "sliding_window": 128, "max_position_embeddings": 4096,
                "bos_token_id": ids("<bos>"), "eos_token_id": [ids("<eos>"), ids("<end_of_turn>")],
                "pad_token_id": ids("<pad>"),
            },
            vision_config={
                "architecture": "mobilenetv5_300m_enc", "vocab_size": BLOCK, "vocab_offset": text_vocab,
                "model_args": {"block_args": copy.deepcopy(block_args), "stem_size": 8, "msfa_output_resolution": 2},
            },
            audio_config={
                "vocab_size": BLOCK, "vocab_offset": text_vocab + BLOCK, "hidden_size": audio_dim,
                "conf_num_hidden_layers": 1, "conf_num_attention_heads": 2, "sscp_conv_channel_size": [8, 8],
            },
            vision_soft_tokens_per_image=image_tokens,
            audio_soft_tokens_per_image=audio_tokens,
            boi_token_id=ids("<start_of_image>"), eoi_token_id=ids("<end_of_image>"),
            image_token_id=ids("<image_soft_token>"), boa_token_id=ids("<start_of_audio>"),
            eoa_token_id=ids("<end_of_audio>"), audio_token_id=ids("<audio_soft_token>"),
        )
        torch.manual_seed(seed)
        model = Gemma3nForConditionalGeneration(config)
        # timm writes callables into the block dicts it was given; restore plain JSON before saving.
        model.config.vision_config.model_args["block_args"] = block_args
        save_tiny(model, processor, out_dir, cls.id)
