"""The transform of every family whose checkpoint formats chats with a Jinja template.

Media tensors come from one processor call on the whole rendered text (so family extras such
as grids, token type ids or cross-attention masks are exactly what the processor makes). Each
chunk is also tokenized on its own, and the row's tokens are those chunk-wise tokens, which is
what the model sees at inference (a prompt tokenized alone, then the generated answer). They
equal the whole-row tokens unless a tokenizer merges across a message border; then the
processor's per-token tensors are re-aligned (``transforms/align.py``).
"""

from __future__ import annotations

from typing import Any

import torch

from mmtune.conversation import Conversation
from mmtune.errors import ConfigError, DataError
from mmtune.transforms.align import realign
from mmtune.transforms.base import (
    FamilySpec,
    TransformSettings,
    media_by_modality,
    media_token_ids,
    presize_images,
)
from mmtune.transforms.labels import IGNORE, Encoded, EndRules
from mmtune.transforms.system import SystemStep
from mmtune.transforms.template import Chunk, Renderer


class ChatTemplateTransform:
    """Renders with ``settings.chat_template`` message by message and labels each chunk."""

    def __init__(self, spec: FamilySpec, processor: Any, settings: TransformSettings):
        self.spec = spec
        self.processor = processor
        self.train_on_inputs = settings.train_on_inputs
        self.roles_to_train = tuple(settings.roles_to_train)
        self.renderer = Renderer(spec, processor, settings.chat_template, settings.template_vars)
        self.media_ids = media_token_ids(spec, processor)
        self.system = SystemStep(
            spec,
            processor,
            getattr(settings, "system_message_policy", "fold"),
            getattr(settings, "default_system_message", None),
        )
        self.ends = EndRules.of(settings, spec.eot_token, usable=lambda t: t in settings.chat_template)
        check_single_tokens(self.renderer.tokenizer, tuple(t for t in self.ends.eot if t != spec.eot_token))

    def __call__(self, conv: Conversation) -> Encoded:
        conv = presize_images(self.spec, self.processor, self.system(conv))
        return self.encode_chunks(self.renderer.chunks(conv, self.train_on_inputs, self.roles_to_train, self.ends))

    def encode_chunks(self, chunks: list[Chunk]) -> Encoded:
        spec, processor = self.spec, self.processor
        text = "".join(c.text for c in chunks)
        all_media = [p for c in chunks for p in c.media]
        try:
            tensors = spec.encode_full(processor, text, media_by_modality(all_media))
        except DataError:
            raise
        except Exception as e:  # processors raise ValueError/RuntimeError on bad media; name it
            raise DataError(f"the processor rejected this row ({type(e).__name__}: {e})") from None
        input_ids = tensors.pop("input_ids")[0].tolist()
        tensors.pop("attention_mask", None)
        pieces: list[int] = []
        supervised: list[bool] = []
        for c in chunks:
            ids = spec.chunk_ids(processor, c.text, media_by_modality(c.media))
            pieces.extend(ids)
            supervised.extend([c.supervised] * len(ids))
        if pieces != input_ids:  # a tokenizer merged across a message border: see transforms/align.py
            tensors = realign(tensors, input_ids, pieces, spec.token_keys, self.media_ids)
        labels = [tid if (sup and tid not in self.media_ids) else IGNORE for sup, tid in zip(supervised, pieces)]
        return Encoded(pieces, labels, tensors, text, [(p.type, p.value) for p in all_media])

    def batch_tensors(self, text: str | None, media: list[tuple[str, Any]]) -> dict[str, torch.Tensor]:
        """The row's media tensors made again from its stored text and decoded media: the same
        processor call as ``encode_chunks``, less the per-token tensors (stored with the row, as
        re-aligned to its tokens)."""
        tensors = self.spec.encode_full(self.processor, text or "", media_by_modality(_parts(media)))
        drop = {"input_ids", "attention_mask", *self.spec.token_keys}
        return {k: v for k, v in tensors.items() if k not in drop}

    def prompt(self, conv: Conversation) -> dict[str, torch.Tensor]:
        """Model inputs to generate the next assistant turn of ``conv`` (which ends with a user turn)."""
        text, media = self.renderer.prompt(presize_images(self.spec, self.processor, self.system(conv, training=False)))
        return self.spec.encode_full(self.processor, text, media_by_modality(media))


class _Part:
    """A (kind, decoded value) pair as ``media_by_modality`` reads media parts."""

    __slots__ = ("type", "value")

    def __init__(self, kind: str, value: Any):
        self.type, self.value = kind, value


def _parts(media: list[tuple[str, Any]]) -> list[_Part]:
    return [_Part(k, v) for k, v in media]


def check_single_tokens(tokenizer: Any, tokens: tuple[str, ...]) -> None:
    """Each end-of-turn token must be one token of the tokenizer: its label is set per token, and
    mmtune adds no tokens (a new one would need a new embedding)."""
    added = getattr(tokenizer, "get_added_vocab", dict)()  # special tokens: never split, whatever surrounds them
    for t in tokens:
        ids = tokenizer(t, add_special_tokens=False)["input_ids"]
        if len(ids) != 1 and t not in added:
            raise ConfigError(
                f"eot_tokens: {t!r} is {len(ids)} tokens of this tokenizer ({ids}), not one; list only tokens the "
                "tokenizer has as a single token (such as the chat template's special tokens)"
            )
