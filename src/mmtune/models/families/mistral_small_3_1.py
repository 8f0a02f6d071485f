"""Mistral-Small-3.1 (Mistral3): Pixtral vision encoder, a 2x2 patch merger, a Mistral language model.

The hub checkpoint ships ``tekken.json`` (mistral-common, instruct format v7), so chats are encoded
by mistral-common (``models/mistral_chat.py``), which also resizes and normalizes the images:
``<s>[SYSTEM_PROMPT]...[/SYSTEM_PROMPT][INST]question[/INST]answer</s>[INST]...``, each image a grid
of ``[IMG]`` rows closed by ``[IMG_BREAK]`` (the last by ``[IMG_END]``) at one token per 28x28 pixels.
The model takes ``pixel_values`` (zero-padded to the row's largest image) and ``image_sizes``.

Mistral-Small-3.1 and Magistral share ``model_type: mistral3``; a real checkpoint resolves to this
family (the general one), and both encode with the checkpoint's own tekken file, so thinking chunks
still work where the tokenizer has them. Tiny checkpoints record ``mmtune_family``.

Inference that matches training is mistral-common's encoding: vLLM with ``tokenizer_mode=mistral``,
``MistralCommonBackend.apply_chat_template`` or ``mmtune predict``. The hub's Jinja chat template
(``apply_chat_template`` of an HF tokenizer) adds a dated default system prompt to a conversation
without a system message, which mistral-common never does; training on such rows logs one warning
naming that difference (``missing_system_note``).
"""

from __future__ import annotations

from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import family_template
from mmtune.models.mistral_chat import MistralChatFamily, pad_images


@register
class MistralSmall31(MistralChatFamily):
    id = "mistral_small_3_1"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    model_types = ("mistral3",)
    image_tokens_scale_with_size = True  # one [IMG] per merged patch, up to the longest edge
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
    missing_system_note = (
        "mmtune encodes them as mistral-common does, with no system prompt, but the hub's Jinja chat template "
        "(transformers' apply_chat_template) adds Mistral's default system prompt, dated with the serving day. "
        "Prompt through mistral-common (vLLM with tokenizer_mode=mistral, or mmtune predict) to match training, "
        "or give every row a system message"
    )

    @classmethod
    def media_tensors(cls, processor: Any, images: list, audios: list) -> dict[str, torch.Tensor]:
        return pad_images(images)
