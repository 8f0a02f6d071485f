"""Mistral-Small-3.1 (Mistral3): Pixtral vision encoder, a 2x2 patch merger, a Mistral language model.

The hub checkpoint ships ``tekken.json`` (mistral-common, instruct format v7), so chats are encoded
by mistral-common (``models/mistral_chat.py``), which also resizes and normalizes the images:
``<s>[SYSTEM_PROMPT]...[/SYSTEM_PROMPT][INST]question[/INST]answer</s>[INST]...``, each image a grid
of ``[IMG]`` rows closed by ``[IMG_BREAK]`` (the last by ``[IMG_END]``) at one token per 28x28 pixels.
The model takes ``pixel_values`` (zero-padded to the row's largest image) and ``image_sizes``.

Mistral-Small-3.1 and Magistral share ``model_type: mistral3``; a real checkpoint resolves to this
family (the general one), and both encode with the checkpoint's own tekken file, so thinking chunks
still work where the tokenizer has them. Tiny checkpoints record ``mmtune_family``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import family_template
from mmtune.models.families.pixtral import tiny_pixtral_mistral
from mmtune.models.mistral_chat import MistralChatFamily, pad_images, write_tiny_tekken
from mmtune.models.tiny_save import save_tiny

# tekken v7 control tokens by rank (0-19 as every tekken file, then the v7 additions).
V7_SPECIALS = dict(enumerate([
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]", "[IMG_END]", "[PREFIX]", "[MIDDLE]",
    "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]", "[ARGS]", "[CALL_ID]",
]))


@register
class MistralSmall31(MistralChatFamily):
    id = "mistral_small_3_1"
    model_types = ("mistral3",)
    modalities = frozenset({"image"})
    template_names = ()  # the checkpoint's own format (mistral-common)
    chat_template = family_template("mistral_small_3_1.jinja")
    eot_token = "</s>"
    media_tokens = ("[IMG]", "[IMG_BREAK]", "[IMG_END]")
    vision_pattern = r"^model\.vision_tower\."
    projector_pattern = r"^model\.multi_modal_projector\."
    language_prefix = "model.language_model"
    auto_model_class = "AutoModelForImageTextToText"
    hub_example = "mistralai/Mistral-Small-3.1-24B-Instruct-2503"
    tekken_version = "v7"
    tekken_specials = V7_SPECIALS

    @classmethod
    def media_tensors(cls, processor: Any, images: list, audios: list) -> dict[str, torch.Tensor]:
        return pad_images(images)

    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, vision_dim: int = 32,
        vision_layers: int = 2, image_size: int = 112, **_: Any,
    ) -> None:
        from transformers import (
            Mistral3Config,
            Mistral3ForConditionalGeneration,
            MistralCommonBackend,
            PixtralImageProcessor,
            PixtralProcessor,
        )

        out_dir = Path(out_dir)
        tekken = write_tiny_tekken(
            out_dir / "tekken.json", cls.tekken_version, cls.tekken_specials,
            image={"image_patch_size": 14, "max_image_size": image_size, "spatial_merge_size": 2},
        )
        tok = MistralCommonBackend(tokenizer_path=str(tekken), mode="finetuning")
        processor = PixtralProcessor(
            image_processor=PixtralImageProcessor(size={"longest_edge": image_size}, patch_size=28),
            tokenizer=tok, patch_size=14, spatial_merge_size=2,
        )
        config = Mistral3Config(
            **tiny_pixtral_mistral(tok, hidden, layers, vision_dim, vision_layers, image_size, patch_size=14),
            spatial_merge_size=2, vision_feature_layer=-1,
        )
        torch.manual_seed(seed)
        save_tiny(Mistral3ForConditionalGeneration(config), processor, out_dir, cls.id)
