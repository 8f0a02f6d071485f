"""What a transform needs from a family (a Protocol, so transforms import no family) and what
every transform offers to preprocessing and generation."""

from __future__ import annotations

from typing import Any, Protocol

import torch

from mmtune.conversation import Conversation
from mmtune.transforms.labels import Encoded


class TransformSettings(Protocol):
    """The settings a transform reads (``preprocess.settings.PrepSettings`` has them)."""

    chat_template: str
    train_on_inputs: bool
    roles_to_train: tuple[str, ...]
    template_vars: dict
    system_message_policy: str  # fold | drop | error (``transforms/system.py``)
    default_system_message: str | None  # the system message of conversations without one
    train_on_eos: str  # turn | last | all | none: which end-of-turn tokens train (``labels.EndRules``)
    train_on_eot: str | None  # the same for eot_tokens (None: as train_on_eos)
    eot_tokens: tuple[str, ...]  # more end-of-turn tokens (empty: the family's own)


class FamilySpec(Protocol):
    """The declarations and hooks of a model family that transforms call (``models.families.base.Family``)."""

    id: str
    eot_token: str
    media_tokens: tuple[str, ...]
    template_names: tuple[str, ...]
    token_keys: frozenset[str]

    @classmethod
    def template_message(cls, role: str, parts: list[dict]) -> dict: ...

    @classmethod
    def conversation_vars(cls, conv: Conversation) -> dict: ...

    @classmethod
    def chunk_ids(cls, processor: Any, text: str, media: dict[str, list]) -> list[int]: ...

    @classmethod
    def encode_full(cls, processor: Any, text: str, media: dict[str, list]) -> dict[str, torch.Tensor]: ...

    @classmethod
    def image_target_size(cls, processor: Any, size: tuple[int, int]) -> tuple[int, int] | None: ...


class Transform(Protocol):
    """Built once per process with its processor (as torchtune's model transforms are); then
    ``transform(conv)`` gives a training row and ``transform.prompt(conv)`` generation inputs."""

    def __call__(self, conv: Conversation) -> Encoded: ...

    def prompt(self, conv: Conversation) -> dict[str, torch.Tensor]: ...

    # Where ``__call__`` fills ``Encoded.media``: the media tensors made again from that text and
    # media at batch time (``preprocess.codec.row_tensors``).
    def batch_tensors(self, text: str | None, media: list[tuple[str, Any]]) -> dict[str, torch.Tensor]: ...


def media_token_ids(spec: FamilySpec, processor: Any) -> frozenset[int]:
    """Ids of the family's media tokens in this processor's vocabulary (unknown ones skipped)."""
    tok = getattr(processor, "tokenizer", processor)
    ids = set()
    for t in spec.media_tokens:
        i = tok.convert_tokens_to_ids(t)
        if i is not None and i != getattr(tok, "unk_token_id", None):
            ids.add(i)
    return frozenset(ids)


def presize_images(spec: FamilySpec, processor: Any, conv: Conversation) -> Conversation:
    """Scale, in place, each image decoded larger than the processor will make it down to that size
    (``image_target_size``), as the processor would: its own resize then has nothing left to do, and
    the cache keeps the pixels the model sees rather than the source's (a 4000 px photo the model sees
    at 1000 px costs 16x less). Training and generation both call it, so they see the same pixels."""
    from PIL import Image

    for part in conv.media():
        img = part.value
        if part.type != "image" or not isinstance(img, Image.Image):
            continue
        target = spec.image_target_size(processor, img.size)
        if target and target[0] <= img.size[0] and target[1] <= img.size[1] and target != img.size:
            part.value = img.resize(target, Image.Resampling.BICUBIC)
    return conv


def media_by_modality(parts: list) -> dict[str, list]:
    """Decoded media values grouped by kind, in order: what a processor call takes."""
    out: dict[str, list] = {}
    for p in parts:
        out.setdefault(p.type, []).append(p.value)
    return out
