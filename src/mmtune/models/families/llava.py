"""LLaVA 1.5: a CLIP tower + MLP projector in front of a Vicuna (Llama 2) language model.

Turns follow the Vicuna v1 layout, ``USER: <image>\\n... ASSISTANT: answer</s>``, and each
``<image>`` is expanded by the processor into one token per vision patch.

The real tokenizer is a ``LlamaTokenizer``: SentencePiece-style pieces with a ``▁`` prepended to
a text that does not follow a special token. Tokenized on its own, a chunk such as
``USER: hi`` would gain that ``▁`` although in the whole row it follows ``</s>``; so each chunk
is tokenized behind a special token that is then dropped, which gives exactly the ids the chunk
has inside the row. The tiny checkpoint uses the same tokenizer class, so tests see this too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template
from mmtune.models.tiny_save import save_tiny

SPECIALS = ["<unk>", "<s>", "</s>", "<image>", "<pad>"]


@register
class Llava(Family):
    id = "llava"
    model_types = ("llava",)
    modalities = frozenset({"image"})
    template_names = ("llava", "llava_1_5", "vicuna_v1")
    chat_template = family_template("llava.jinja")
    eot_token = "</s>"
    media_tokens = ("<image>",)
    hub_example = "llava-hf/llava-1.5-7b-hf"

    @classmethod
    def chunk_ids(cls, processor: Any, text: str, media: dict[str, list]) -> list[int]:
        tok = processor.tokenizer
        ids = super().chunk_ids(processor, tok.eos_token + text, media)
        if not ids or ids[0] != tok.eos_token_id:
            raise RuntimeError(f"family {cls.id}: the tokenizer did not keep {tok.eos_token!r} as one token")
        return ids[1:]

    # -- tiny checkpoint -------------------------------------------------------------------------
    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, vision_dim: int = 32,
        vision_depth: int = 2, **_: Any,
    ) -> None:
        from transformers import (
            CLIPImageProcessor,
            LlamaTokenizer,
            LlavaConfig,
            LlavaForConditionalGeneration,
            LlavaProcessor,
        )

        from mmtune.models.tiny_tokenizer import train_sentencepiece_bpe

        vocab, merges = train_sentencepiece_bpe(SPECIALS)
        tok = LlamaTokenizer(vocab=vocab, merges=merges, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                             pad_token="<pad>")
        tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
        tok.chat_template = cls.chat_template
        ids = tok.convert_tokens_to_ids
        side = 28  # 2x2 patches of 14 px -> 4 image tokens
        processor = LlavaProcessor(
            image_processor=CLIPImageProcessor(
                size={"shortest_edge": side}, crop_size={"height": side, "width": side}
            ),
            tokenizer=tok, patch_size=14, vision_feature_select_strategy="default",
            num_additional_image_tokens=1, chat_template=cls.chat_template,
        )
        heads = max(2, hidden // 16)
        config = LlavaConfig(
            vision_config={
                "model_type": "clip_vision_model", "hidden_size": vision_dim, "intermediate_size": vision_dim * 2,
                "num_hidden_layers": vision_depth, "num_attention_heads": 2, "image_size": side, "patch_size": 14,
                "projection_dim": vision_dim,
            },
            text_config={
                "model_type": "llama", "vocab_size": len(tok), "hidden_size": hidden,
                "intermediate_size": hidden * 2, "num_hidden_layers": layers, "num_attention_heads": heads,
                "num_key_value_heads": max(1, heads // 2), "max_position_embeddings": 4096,
                "bos_token_id": ids("<s>"), "eos_token_id": ids("</s>"), "pad_token_id": ids("<pad>"),
            },
            # like llava-1.5: features of the second-to-last CLIP layer, CLS token dropped
            vision_feature_layer=-2, vision_feature_select_strategy="default",
            image_token_index=ids("<image>"), image_seq_length=4,
        )
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
        save_tiny(model, processor, out_dir, cls.id)
