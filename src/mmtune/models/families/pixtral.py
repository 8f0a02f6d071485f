"""Pixtral-12B: a LLaVA model with Mistral's Pixtral vision encoder and a Mistral language model.

Mistral publishes Pixtral-12B-2409 in its own format only (``params.json``, ``consolidated.safetensors``,
``tekken.json``); transformers loads the converted checkpoint ``mistral-community/pixtral-12b``, a
``llava`` config with a ``pixtral`` vision config and an ordinary HF tokenizer. So this family goes
through the standard processor path: the template writes one ``[IMG]`` per image and
``PixtralProcessor`` expands it into rows of ``[IMG]`` closed by ``[IMG_BREAK]``, the last row by
``[IMG_END]``, and returns ``image_sizes`` next to the padded ``pixel_values``.

The prompt format is Mistral's tekken v3 instruct format:
``<s>[INST]question[/INST]answer</s>[INST]...``, with no separate system turn. mistral-common puts
the system prompt in front of the *last* user message; mmtune needs a template that only appends text
message by message, so ours puts it in front of the *first* one (identical for single-turn rows, the
common case, and used consistently at training and prediction time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template
from mmtune.models.tiny_save import save_tiny

# tekken v3's control tokens, in its rank order ([IMG] = 10, <pad> = 11, [IMG_BREAK] = 12, [IMG_END] = 13).
SPECIALS = [
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]", "[IMG_END]", "[PREFIX]", "[MIDDLE]",
    "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]",
]


def tiny_pixtral_mistral(
    tok: Any, hidden: int, layers: int, vision_dim: int, vision_layers: int, image_size: int, patch_size: int
) -> dict:
    """Tiny Pixtral vision + Mistral text sub-configs, shared by Pixtral (Llava) and Mistral3."""
    ids = tok.convert_tokens_to_ids
    heads = max(2, hidden // 16)
    return {
        "vision_config": {
            "model_type": "pixtral", "hidden_size": vision_dim, "intermediate_size": vision_dim * 2,
            "num_hidden_layers": vision_layers, "num_attention_heads": 2, "head_dim": vision_dim // 2,
            "image_size": image_size, "patch_size": patch_size,
        },
        "text_config": {
            "model_type": "mistral", "vocab_size": len(tok), "hidden_size": hidden,
            "intermediate_size": hidden * 2, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": max(1, heads // 2), "head_dim": hidden // heads,
            "max_position_embeddings": 4096, "bos_token_id": ids("<s>"), "eos_token_id": ids("</s>"),
            "pad_token_id": ids("<pad>"),
        },
        "image_token_index": ids("[IMG]"),
    }


@register
class Pixtral(Family):
    id = "pixtral"
    # The converted checkpoint says ``llava``; its vision tower says ``pixtral`` (see the registry).
    model_types = ("llava/pixtral",)
    modalities = frozenset({"image"})
    template_names = ("pixtral", "mistral_v3")
    chat_template = family_template("pixtral.jinja")
    eot_token = "</s>"
    media_tokens = ("[IMG]", "[IMG_BREAK]", "[IMG_END]")
    vision_pattern = r"^model\.vision_tower\."
    projector_pattern = r"^model\.multi_modal_projector\."
    language_prefix = "model.language_model"
    auto_model_class = "AutoModelForImageTextToText"
    hub_example = "mistral-community/pixtral-12b"

    @classmethod
    def tiny_config(cls, tok: Any, hidden: int, layers: int, vision_dim: int, vision_layers: int, image_size: int) -> Any:
        from transformers import LlavaConfig

        return LlavaConfig(
            **tiny_pixtral_mistral(tok, hidden, layers, vision_dim, vision_layers, image_size, patch_size=16),
            projector_hidden_act="gelu",
            # Pixtral feeds every patch (no CLS token): "default" would drop one and fail to split.
            vision_feature_select_strategy="full",
            vision_feature_layer=-1,
        )

    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, vision_dim: int = 32,
        vision_layers: int = 2, image_size: int = 64, **_: Any,
    ) -> None:
        from transformers import LlavaForConditionalGeneration, PixtralImageProcessor, PixtralProcessor

        from mmtune.models.tiny_tokenizer import train_tokenizer

        tok = train_tokenizer(
            SPECIALS, bos="<s>", eos="</s>", pad="<pad>", unk="<unk>", chat_template=cls.chat_template
        )
        processor = PixtralProcessor(
            image_processor=PixtralImageProcessor(size={"longest_edge": image_size}, patch_size=16),
            tokenizer=tok, patch_size=16, spatial_merge_size=1, chat_template=cls.chat_template,
        )
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(cls.tiny_config(tok, hidden, layers, vision_dim, vision_layers, image_size))
        save_tiny(model, processor, out_dir, cls.id)
