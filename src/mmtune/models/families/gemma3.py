"""Gemma 3: ``<start_of_turn>`` turns (the assistant's role is ``model``), SigLIP images.

The template writes ``<start_of_image>`` per image; the processor expands it into
``\\n\\n<start_of_image>`` + ``<image_soft_token>`` x ``mm_tokens_per_image`` + ``<end_of_image>\\n\\n``
and returns ``token_type_ids`` (1 on image tokens), which the model needs to let image tokens
attend to each other bidirectionally. Gemma has no system role: a system message opens the first
user turn.

The real tokenizer is a ``GemmaTokenizer`` (SentencePiece-style pieces, spaces as ``▁``, byte
fallback); the tiny checkpoint uses the same class with a locally trained vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template
from mmtune.models.tiny_save import save_tiny

MEDIA = ("<start_of_image>", "<end_of_image>", "<image_soft_token>")
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>", *MEDIA]


@register
class Gemma3(Family):
    id = "gemma3"
    model_types = ("gemma3",)
    modalities = frozenset({"image"})
    template_names = ("gemma3", "gemma")
    chat_template = family_template("gemma3.jinja")
    eot_token = "<end_of_turn>"
    media_tokens = MEDIA
    hub_example = "google/gemma-3-4b-it"

    # -- tiny checkpoint -------------------------------------------------------------------------
    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, vision_dim: int = 32,
        vision_depth: int = 2, **_: Any,
    ) -> None:
        from transformers import (
            Gemma3Config,
            Gemma3ForConditionalGeneration,
            Gemma3ImageProcessor,
            Gemma3Processor,
            GemmaTokenizer,
        )

        from mmtune.models.tiny_tokenizer import train_sentencepiece_bpe

        vocab, merges = train_sentencepiece_bpe(SPECIALS)
        tok = GemmaTokenizer(
            vocab=vocab, merges=merges, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>",
            mask_token="<mask>",
            # Gemma3Processor reads these as tokenizer attributes
            extra_special_tokens={
                "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>",
            },
        )
        tok.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]},
                               replace_extra_special_tokens=False)
        tok.chat_template = cls.chat_template
        ids = tok.convert_tokens_to_ids
        side, tokens_per_image = 56, 4  # 4x4 patches of 14 px, average-pooled to 2x2
        processor = Gemma3Processor(
            image_processor=Gemma3ImageProcessor(size={"height": side, "width": side}),
            tokenizer=tok, image_seq_length=tokens_per_image, chat_template=cls.chat_template,
        )
        heads = max(2, hidden // 16)
        config = Gemma3Config(
            vision_config={
                "hidden_size": vision_dim, "intermediate_size": vision_dim * 2, "num_hidden_layers": vision_depth,
                "num_attention_heads": 2, "image_size": side, "patch_size": 14,
                # Gemma 3 uses the patch embeddings, not SigLIP's pooling head (it would get no grad)
                "vision_use_head": False,
            },
            text_config={
                "vocab_size": len(tok), "hidden_size": hidden, "intermediate_size": hidden * 2,
                "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": max(1, heads // 2),
                "head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 16, "max_position_embeddings": 4096,
                "bos_token_id": ids("<bos>"), "eos_token_id": ids("<end_of_turn>"), "pad_token_id": ids("<pad>"),
            },
            mm_tokens_per_image=tokens_per_image,
            boi_token_index=ids("<start_of_image>"), eoi_token_index=ids("<end_of_image>"),
            image_token_index=ids("<image_soft_token>"),
        )
        torch.manual_seed(seed)
        model = Gemma3ForConditionalGeneration(config)
        save_tiny(model, processor, out_dir, cls.id)
