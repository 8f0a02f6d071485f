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

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template

MEDIA = ("<start_of_image>", "<end_of_image>", "<image_soft_token>")


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
