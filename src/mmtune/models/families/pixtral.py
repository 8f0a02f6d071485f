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

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template


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
