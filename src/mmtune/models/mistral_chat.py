"""The family base of checkpoints whose chat format is mistral-common's (they ship ``tekken.json``).

Mistral-Small-3.1, Magistral and Voxtral encode chats through ``transforms/mistral_common.py``;
what stays here is what differs per checkpoint: loading the processor with mistral-common's
tokenizer, choosing that transform (a checkpoint without ``tekken.json``, an HF-format conversion
with ``tokenizer.json`` and a chat template, takes the generic template path of ``Family``), and
the ``media_tensors`` hook through which each family turns mistral-common's preprocessed images
and audio into model tensors, and mistral-common's rule on system messages beside audio
(``system_message_refusal``, applied through the config's ``system_message_policy``).
"""

from __future__ import annotations

from typing import Any

import torch

from mmtune.conversation import Conversation
from mmtune.errors import ConfigError
from mmtune.models.families.base import Family
from mmtune.transforms.base import Transform, TransformSettings
from mmtune.transforms.mistral_common import MistralCommonTransform, mistral_tokenizer

# -- the family base -----------------------------------------------------------------------------


class MistralChatFamily(Family):
    """Shared behaviour of the families whose chat format is mistral-common's (not registered)."""

    mistral_common = True

    @classmethod
    def load_processor(cls, path: str, **kwargs: Any) -> Any:
        """The checkpoint's processor, with mistral-common's tokenizer where it ships ``tekken.json``.

        ``mode="finetuning"``: the default test mode refuses conversations ending with an answer.
        PixtralProcessor (Mistral3) always converts tekken.json into an HF tokenizer, so its tokenizer
        is swapped for mistral-common's.
        """
        from transformers import AutoProcessor, MistralCommonBackend

        processor = AutoProcessor.from_pretrained(path, **{"mode": "finetuning", **kwargs})
        if type(processor.tokenizer).__name__ != "MistralCommonBackend":
            try:
                processor.tokenizer = MistralCommonBackend.from_pretrained(path, mode="finetuning")
            except (OSError, ValueError):
                pass  # no tekken.json: an HF conversion, handled by the generic template path
        return processor

    @classmethod
    def transform(cls, processor: Any, settings: TransformSettings) -> Transform:
        """mistral-common's encoding where the checkpoint ships ``tekken.json``; else the template path."""
        if mistral_tokenizer(processor) is None:
            return super().transform(processor, settings)
        own = getattr(processor, "chat_template", None) or getattr(processor.tokenizer, "chat_template", None)
        if settings.chat_template not in (cls.chat_template, own):
            raise ConfigError(
                f"model family {cls.id!r} encodes chats with the checkpoint's mistral-common tokenizer "
                "(tekken.json); a custom chat_template / chat_template_jinja cannot change that format"
            )
        return MistralCommonTransform(cls, processor, settings)

    @classmethod
    def system_message_refusal(cls, processor: Any, conv: Conversation) -> str | None:
        """mistral-common's rule: tokenizer v7 (its ``MistralRequestValidatorV5``) refuses a system
        message in a conversation where any user message has audio; v11 and later take it."""
        tok = mistral_tokenizer(processor)
        if tok is None or "audio" not in conv.modalities():
            return None
        version = str(tok.instruct_tokenizer.tokenizer.version.value)
        if int(version.lstrip("v")) >= 11:
            return None
        return f"mistral-common's {version} chat format takes no system message in a conversation with audio"

    @classmethod
    def media_tensors(cls, processor: Any, images: list, audios: list) -> dict[str, torch.Tensor]:
        """Model inputs for the images (np [3, H, W]) and audio (mistral-common ``Audio``) of a row."""
        raise NotImplementedError(f"family {cls.id} must say how its media become model tensors")


def pad_images(images: list) -> dict[str, torch.Tensor]:
    """Pixtral inputs from mistral-common's per-image arrays: zero-padded ``pixel_values`` + true sizes."""
    if not images:
        return {}
    h = max(i.shape[1] for i in images)
    w = max(i.shape[2] for i in images)
    pixels = torch.zeros(len(images), 3, h, w, dtype=torch.float32)
    for k, img in enumerate(images):
        pixels[k, :, : img.shape[1], : img.shape[2]] = torch.from_numpy(img)
    sizes = torch.tensor([[i.shape[1], i.shape[2]] for i in images], dtype=torch.long)
    return {"pixel_values": pixels, "image_sizes": sizes}
