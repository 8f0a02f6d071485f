"""Gemma 3n's tiny checkpoint: a toy MobileNetV5 image encoder, a one-layer conformer audio encoder.

Token ids index three embedding tables by range (text below ``vocab_size_per_layer_input``, then an
image block, then an audio block, each block starting with its end marker and soft token), so the
tokenizer appends the two blocks after the trained vocabulary. Every clip gets 188 audio soft
tokens, as on the real model, so the same clips fit both.

Sizes used: ``hidden``, ``layers``, ``audio_dim``. The image encoder is the fixed ``MOBILENET``
below and the audio encoder keeps one conformer layer.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.tiny import TinySizes, recipe, text_config
from mmtune.tiny.save import save_tiny

TEXT_SPECIALS = [
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<start_of_audio>",
]
BLOCK = 8  # ids per modality block in the tiny vocabulary (128 on the real model)
IMAGE_BLOCK = ["<end_of_image>", "<image_soft_token>", *[f"<unused_image_{i}>" for i in range(BLOCK - 2)]]
AUDIO_BLOCK = ["<end_of_audio>", "<audio_soft_token>", *[f"<unused_audio_{i}>" for i in range(BLOCK - 2)]]
IMAGE_TOKENS, AUDIO_TOKENS = 4, 188
AUDIO_CONFORMER_LAYERS = 1

# A 4-stage toy MobileNetV5 (timm block notation): 64 px in, 16x downsampling, then the
# multi-scale fusion adapter pools to 2x2 = 4 image tokens. Each stage ends with a `uir` block
# (timm fails on a stage ending in `mqa`); stages 3-4 keep one multi-query attention block each.
MOBILENET = [
    ["er_r1_k3_s2_e4_c8"],
    ["uir_r1_a3_k5_s2_e4_c16"],
    ["uir_r1_a5_k5_s2_e4_c16", "mqa_r1_k3_h2_v2_s1_d8_c16", "uir_r1_a0_k0_s1_e2_c16"],
    ["uir_r1_a5_k5_s2_e4_c16", "mqa_r1_k3_h2_s1_d8_c16", "uir_r1_a0_k0_s1_e2_c16"],
]


@recipe("gemma3n")
def gemma3n(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from timm.models._efficientnet_builder import decode_arch_def
    from transformers import (
        Gemma3nAudioFeatureExtractor,
        Gemma3nConfig,
        Gemma3nForConditionalGeneration,
        Gemma3nProcessor,
        SiglipImageProcessor,
    )

    from mmtune.tiny.tokenizer import train_tokenizer

    template = get_family("gemma3n").chat_template
    tok = train_tokenizer(
        TEXT_SPECIALS,
        bos="<bos>",
        eos="<eos>",
        pad="<pad>",
        unk="<unk>",
        added_special=IMAGE_BLOCK + AUDIO_BLOCK,
        extra_attrs={
            "image_token": "<image_soft_token>",
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "audio_token": "<audio_soft_token>",
            "boa_token": "<start_of_audio>",
            "eoa_token": "<end_of_audio>",
        },
        chat_template=template,
    )
    ids = tok.convert_tokens_to_ids
    text_vocab = len(tok) - 2 * BLOCK
    assert ids("<end_of_image>") == text_vocab and ids("<end_of_audio>") == text_vocab + BLOCK
    processor = Gemma3nProcessor(
        feature_extractor=Gemma3nAudioFeatureExtractor(),
        image_processor=SiglipImageProcessor(
            size={"height": 64, "width": 64}, image_mean=[0.0] * 3, image_std=[1.0] * 3
        ),
        tokenizer=tok,
        chat_template=template,
        image_seq_length=IMAGE_TOKENS,
        audio_seq_length=AUDIO_TOKENS,
    )
    block_args = decode_arch_def(MOBILENET)
    config = Gemma3nConfig(
        text_config=text_config(
            tok,
            sizes,
            vocab_size_per_layer_input=text_vocab,
            layer_types=["sliding_attention"] * (sizes.layers - 1) + ["full_attention"],
            head_dim=16,
            hidden_size_per_layer_input=8,
            laurel_rank=4,
            altup_num_inputs=4,
            num_kv_shared_layers=0,
            sliding_window=128,
            max_position_embeddings=4096,
            bos_token_id=ids("<bos>"),
            eos_token_id=[ids("<eos>"), ids("<end_of_turn>")],
            pad_token_id=ids("<pad>"),
        ),
        vision_config={
            "architecture": "mobilenetv5_300m_enc",
            "vocab_size": BLOCK,
            "vocab_offset": text_vocab,
            "model_args": {"block_args": copy.deepcopy(block_args), "stem_size": 8, "msfa_output_resolution": 2},
        },
        audio_config={
            "vocab_size": BLOCK,
            "vocab_offset": text_vocab + BLOCK,
            "hidden_size": sizes.audio_dim,
            "conf_num_hidden_layers": AUDIO_CONFORMER_LAYERS,
            "conf_num_attention_heads": 2,
            "sscp_conv_channel_size": [8, 8],
        },
        vision_soft_tokens_per_image=IMAGE_TOKENS,
        audio_soft_tokens_per_image=AUDIO_TOKENS,
        boi_token_id=ids("<start_of_image>"),
        eoi_token_id=ids("<end_of_image>"),
        image_token_id=ids("<image_soft_token>"),
        boa_token_id=ids("<start_of_audio>"),
        eoa_token_id=ids("<end_of_audio>"),
        audio_token_id=ids("<audio_soft_token>"),
    )
    torch.manual_seed(seed)
    model = Gemma3nForConditionalGeneration(config)
    # timm writes callables into the block dicts it was given; restore plain JSON before saving.
    model.config.vision_config.model_args["block_args"] = block_args
    save_tiny(model, processor, out_dir, "gemma3n")
