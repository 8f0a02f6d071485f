"""Llama 4 (Scout / Maverick): header turns ending in ``<|eot|>``, tiled images, a MoE language model.

The template writes one ``<|image|>`` per image; the processor expands it into
``<|image_start|>`` + per-tile ``<|patch|>`` runs separated by ``<|tile_x_separator|>`` /
``<|tile_y_separator|>`` + ``<|image|>`` + the global tile's ``<|patch|>`` run + ``<|image_end|>``.
The model counts ``<|patch|>`` tokens (the config's ``image_token_index``), so all of those are
media tokens. The image processor returns bf16 pixels; ``Family.prepare_inputs`` casts them to the
model dtype. The language model calls its MLP ``feed_forward`` (a dense MLP, or a router + fused
experts + a shared expert), so LoRA targets are spelled out here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template
from mmtune.models.tiny_save import save_tiny

MEDIA = (
    "<|image_start|>", "<|image_end|>", "<|image|>", "<|patch|>", "<|tile_x_separator|>", "<|tile_y_separator|>",
)
SPECIALS = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|header_start|>", "<|header_end|>", "<|eot|>", "<|eom|>",
    *MEDIA, "<|python_start|>", "<|python_end|>", "<|finetune_right_pad|>",
]


@register
class Llama4(Family):
    id = "llama4"
    model_types = ("llama4",)
    modalities = frozenset({"image"})
    template_names = ("llama4",)
    chat_template = family_template("llama4.jinja")
    eot_token = "<|eot|>"
    media_tokens = MEDIA
    # Llama4ForConditionalGeneration keeps its parts at the top level (no ``model.`` wrapper).
    vision_pattern = r"^vision_model\."
    projector_pattern = r"^multi_modal_projector\."
    language_prefix = "language_model.model"
    hub_example = "meta-llama/Llama-4-Scout-17B-16E-Instruct"

    # Attention, dense MLPs and the shared expert. The routed experts are fused 3-D weights
    # (not nn.Linear) and the router is left alone so routing stays as pretrained.
    lora_modules = r"(self_attn\.(q|k|v|o)_proj|feed_forward\.(shared_expert\.)?(gate|up|down)_proj)"

    # -- tiny checkpoint -------------------------------------------------------------------------
    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, vision_dim: int = 32,
        vision_depth: int = 2, **_: Any,
    ) -> None:
        from transformers import (
            Llama4Config,
            Llama4ForConditionalGeneration,
            Llama4ImageProcessor,
            Llama4Processor,
        )

        from mmtune.models.tiny_tokenizer import train_tokenizer

        tok = train_tokenizer(
            SPECIALS, bos="<|begin_of_text|>", eos="<|eot|>", pad="<|finetune_right_pad|>",
            chat_template=cls.chat_template,
        )
        ids = tok.convert_tokens_to_ids
        tile = 56  # 4x4 patches of 14 px, pixel-shuffled to 4 tokens per tile
        processor = Llama4Processor(
            image_processor=Llama4ImageProcessor(size={"height": tile, "width": tile}, max_patches=4),
            tokenizer=tok, patch_size=14, pixel_shuffle_ratio=0.5, chat_template=cls.chat_template,
        )
        heads = max(2, hidden // 16)
        config = Llama4Config(
            vision_config={
                "hidden_size": vision_dim, "num_hidden_layers": vision_depth, "num_attention_heads": 2,
                # the pixel-shuffle MLP needs intermediate = 4 x hidden at ratio 0.5
                "intermediate_size": vision_dim * 4, "image_size": tile, "patch_size": 14,
                "vision_output_dim": hidden, "projector_input_dim": hidden, "projector_output_dim": hidden,
            },
            text_config={
                "vocab_size": len(tok), "hidden_size": hidden, "num_hidden_layers": layers,
                "num_attention_heads": heads, "num_key_value_heads": max(1, heads // 2), "head_dim": 16,
                # every second layer is a MoE layer with two experts, top-1, like Maverick's interleave
                "num_local_experts": 2, "num_experts_per_tok": 1, "interleave_moe_layer_step": 2,
                "intermediate_size": hidden, "intermediate_size_mlp": hidden * 2,
                "attention_chunk_size": 128, "max_position_embeddings": 4096,
                "bos_token_id": ids("<|begin_of_text|>"), "eos_token_id": ids("<|eot|>"),
                "pad_token_id": ids("<|finetune_right_pad|>"),
            },
            boi_token_index=ids("<|image_start|>"), eoi_token_index=ids("<|image_end|>"),
            image_token_index=ids("<|patch|>"),
        )
        torch.manual_seed(seed)
        model = Llama4ForConditionalGeneration(config)
        save_tiny(model, processor, out_dir, cls.id)
