"""LLaVA 1.5: a CLIP tower + MLP projector in front of a Vicuna (Llama 2) language model.

Turns follow llava-hf's layout of the Vicuna v1 format, ``USER: <image>\\n... ASSISTANT: answer</s>
USER: ...``: every ``<image>\\n`` of a message comes before its text, and each ``<image>`` is
expanded by the processor into one token per vision patch. mmtune's template differs from
llava-hf's in one deliberate way: an answer ends with ``</s>``, the token the model stops on
(``docs/families.md``, "Hub templates"). The transform puts a message's media parts before its text
parts too, so a media item and its placeholder always land in the same chunk.

The template writes no BOS, as llava-hf's does: at inference the tokenizer adds ``<s>`` when it
encodes the prompt, and the text after it is tokenized as the start of a sequence (``▁USER``). A
row is encoded the same way: ``<s>`` once, then the text as a sequence start (a BOS the template
itself writes is not doubled).

The real tokenizer is a ``LlamaTokenizer``: SentencePiece-style pieces with a ``▁`` prepended to
a text that starts a sequence, not to one that follows a special token. Tokenized on its own, a
later chunk such as ``ASSISTANT:`` would gain that ``▁`` although in the whole row it follows
``</s>`` or text; so each chunk after the first is tokenized behind a special token that is then
dropped, which gives exactly the ids the chunk has inside the row. The tiny checkpoint uses the
same tokenizer class (adding BOS, as llava-hf's does), so tests see this too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from mmtune.conversation import Conversation, MediaPart, TextPart
from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template
from mmtune.transforms.base import Transform, TransformSettings
from mmtune.transforms.chat_template import ChatTemplateTransform
from mmtune.transforms.labels import IGNORE, Encoded
from mmtune.transforms.template import Chunk


def media_first(conv: Conversation) -> Conversation:
    """``conv`` with each message's media parts moved before its text parts (each kind kept in order),
    the order LLaVA's template renders them in."""
    messages = []
    for m in conv.messages:
        media = [p for p in m.parts if isinstance(p, MediaPart)]
        texts = [p for p in m.parts if isinstance(p, TextPart)]
        messages.append(replace(m, parts=[*media, *texts]))
    return Conversation(messages)


class LlavaTransform(ChatTemplateTransform):
    """The chat-template transform with LLaVA's two encoding rules: media before text in every
    message, and a row that starts with BOS (the first chunk carries it; ``Llava.chunk_ids`` then
    tokenizes that chunk as a sequence start)."""

    def __call__(self, conv: Conversation) -> Encoded:
        return super().__call__(media_first(conv))

    def prompt(self, conv: Conversation) -> dict[str, torch.Tensor]:
        return super().prompt(media_first(conv))

    def encode_chunks(self, chunks: list[Chunk]) -> Encoded:
        bos = _tokenizer(self.processor).bos_token
        if chunks and not chunks[0].text.startswith(bos):
            chunks = [replace(chunks[0], text=bos + chunks[0].text), *chunks[1:]]
        enc = super().encode_chunks(chunks)
        if enc.labels and not self.train_on_inputs:  # BOS is scaffolding, even when a trained message starts the row
            enc.labels[0] = IGNORE
        return enc


def _tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


@register
class Llava(Family):
    id = "llava"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    model_types = ("llava",)
    modalities = frozenset({"image"})
    template_names = ("llava", "llava_1_5", "vicuna_v1")
    chat_template = family_template("llava.jinja")
    eot_token = "</s>"
    media_tokens = ("<image>",)
    hub_example = "llava-hf/llava-1.5-7b-hf"

    @classmethod
    def transform(cls, processor: Any, settings: TransformSettings) -> Transform:
        return LlavaTransform(cls, processor, settings)

    @classmethod
    def chunk_ids(cls, processor: Any, text: str, media: dict[str, list]) -> list[int]:
        """A chunk that starts with BOS starts the row: BOS, then the rest as a sequence start. Any
        other chunk is tokenized behind ``</s>``, which is then dropped."""
        tok = _tokenizer(processor)
        if text.startswith(tok.bos_token):
            return [tok.bos_token_id, *super().chunk_ids(processor, text.removeprefix(tok.bos_token), media)]
        ids = super().chunk_ids(processor, tok.eos_token + text, media)
        if not ids or ids[0] != tok.eos_token_id:
            raise RuntimeError(f"family {cls.id}: the tokenizer did not keep {tok.eos_token!r} as one token")
        return ids[1:]

    @classmethod
    def encode_full(cls, processor: Any, text: str, media: dict[str, list]) -> dict[str, torch.Tensor]:
        """A whole row or prompt: BOS once (as the llava-hf tokenizer adds it at inference), then the
        text, without a BOS the template may have written, tokenized as a sequence start."""
        tok = _tokenizer(processor)
        out = super().encode_full(processor, text.removeprefix(tok.bos_token), media)
        out["input_ids"] = torch.cat([torch.full_like(out["input_ids"][:, :1], tok.bos_token_id), out["input_ids"]], 1)
        if "attention_mask" in out:
            mask = out["attention_mask"]
            out["attention_mask"] = torch.cat([torch.ones_like(mask[:, :1]), mask], 1)
        return out
