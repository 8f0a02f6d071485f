"""Pixtral-12B: a LLaVA model with Mistral's Pixtral vision encoder and a Mistral language model.

Mistral publishes Pixtral-12B-2409 in its own format only (``params.json``, ``consolidated.safetensors``,
``tekken.json``); transformers loads the converted checkpoint ``mistral-community/pixtral-12b``, a
``llava`` config with a ``pixtral`` vision config and an ordinary HF tokenizer (``tokenizer.json``,
no ``tekken.json``). So this family goes through the standard processor path: the template writes one
``[IMG]`` per image and ``PixtralProcessor`` expands it into rows of ``[IMG]`` closed by
``[IMG_BREAK]``, the last row by ``[IMG_END]``, and returns ``image_sizes`` next to the padded
``pixel_values``.

The prompt format is Mistral's tekken v3 instruct format as mistral-common encodes it:
``<s>[INST]question[/INST]answer</s>[INST]...``, with no separate system turn: the system text (all
system messages, joined by a blank line) opens the *last* user message of the conversation, then a
blank line, in training rows and prompts alike (mistral-common's v3 ``encode_user_content``). mmtune
renders message by message, so the family hands the template the index of the conversation's last
user message (``conversation_vars``): every prefix of a row renders the same earlier text, and only
the last user turn carries the system text.
"""

from __future__ import annotations

from mmtune.conversation import Conversation
from mmtune.errors import DataError
from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template


@register
class Pixtral(Family):
    id = "pixtral"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    # The converted checkpoint says ``llava``; its vision tower says ``pixtral`` (see the registry).
    model_types = ("llava/pixtral",)
    image_tokens_scale_with_size = True  # one [IMG] per 16x16 pixels, up to the longest edge
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
    def template_message(cls, role: str, parts: list[dict]) -> dict:
        """System content as one string, its text parts joined by a blank line (mistral-common's system
        prompt is one string, joined so; the hub template concatenates it as a string)."""
        if role != "system":
            return {"role": role, "content": parts}
        media = [p["type"] for p in parts if p["type"] != "text"]
        if media:
            raise DataError(f"a Pixtral system message takes only text (found {media[0]})")
        return {"role": role, "content": "\n\n".join(p["text"] for p in parts if p["text"])}

    @classmethod
    def conversation_vars(cls, conv: Conversation) -> dict:
        """``last_user_index``: the message the system text goes with (mistral-common's v3 rule)."""
        users = [i for i, m in enumerate(conv.messages) if m.role == "user"]
        return {"last_user_index": users[-1]} if users else {}
