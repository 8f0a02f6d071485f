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

from typing import Any

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template


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
