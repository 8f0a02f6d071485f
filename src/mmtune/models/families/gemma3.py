"""Gemma 3: ``<start_of_turn>`` turns (the assistant's role is ``model``), SigLIP images.

The template writes ``<start_of_image>`` per image; the processor expands it into
``\\n\\n<start_of_image>`` + ``<image_soft_token>`` x ``mm_tokens_per_image`` + ``<end_of_image>\\n\\n``
and returns ``token_type_ids`` (1 on image tokens), which the model needs to let image tokens
attend to each other bidirectionally. Gemma has no system role: a system message opens the first
user turn, followed by a blank line. The hub template reads only the system message's first text
part and keeps it untrimmed (user and model text parts are trimmed), so ``template_message`` hands
every template ONE system text part holding all of the message's text (``system_text``).

The real tokenizer is a ``GemmaTokenizer`` (SentencePiece-style pieces, spaces as ``▁``, byte
fallback); the tiny checkpoint uses the same class with a locally trained vocabulary.
"""

from __future__ import annotations

from mmtune.errors import DataError
from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template

MEDIA = ("<start_of_image>", "<end_of_image>", "<image_soft_token>")
# Between the text parts of a system message: a blank line, the separator Gemma's format itself puts
# after the system text and the one mmtune uses wherever it joins system texts (``fold_system``), so
# the parts stay apart as written instead of being glued ("…assistant.Answer…").
SYSTEM_PART_SEPARATOR = "\n\n"


def system_message(family: str, parts: list[dict]) -> dict:
    """A Gemma system message as templates take it: one text part, the message's text parts joined
    by ``SYSTEM_PART_SEPARATOR`` and left untrimmed (as the hub template leaves its one part). The hub
    template reads only ``content[0]['text']``, so without this it would silently drop every later part.
    Gemma has no place for media in a system message."""
    media = [p["type"] for p in parts if p["type"] != "text"]
    if media:
        raise DataError(f"a {family} system message takes only text (found {media[0]})")
    text = SYSTEM_PART_SEPARATOR.join(p["text"] for p in parts)
    return {"role": "system", "content": [{"type": "text", "text": text}]}


@register
class Gemma3(Family):
    id = "gemma3"
    pack_refusal = (
        "its image tokens attend to each other through a block mask transformers indexes by position, and "
        "packed rows' positions restart, so the blocks land on the wrong tokens"
    )
    model_types = ("gemma3",)
    modalities = frozenset({"image"})
    template_names = ("gemma3", "gemma")
    chat_template = family_template("gemma3.jinja")
    eot_token = "<end_of_turn>"
    media_tokens = MEDIA
    hub_example = "google/gemma-3-4b-it"

    @classmethod
    def template_message(cls, role: str, parts: list[dict]) -> dict:
        if role == "system":
            return system_message("Gemma 3", parts)
        return {"role": role, "content": parts}
