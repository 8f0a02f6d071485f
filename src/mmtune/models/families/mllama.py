"""Llama 3.2 Vision (Mllama): Llama 3 header turns, images reach the LM through cross-attention.

The text holds one ``<|image|>`` token per image and the processor does not expand it: the image
features enter through cross-attention layers instead, steered by a ``cross_attention_mask``
[1, seq, n_images, max_tiles] the processor derives from where the ``<|image|>`` tokens sit. So a
chunk's token ids are plain tokenizer ids, and every per-image tensor (pixels, aspect ratio ids
and masks, the cross-attention mask) carries a leading batch dimension the collator pads.

The chat template renders what the hub's does: a dated system turn ("Cutting Knowledge Date: …
Today Date: <date_string>") when the conversation has a system message or no image. Whether it has
an image is decided for the whole conversation (``conversation_vars``), so a row whose only image
comes in a later turn still renders message by message. The hub template prints system content
with ``|trim``, so the system message reaches it as a plain string.
"""

from __future__ import annotations

from typing import Any

import torch

from mmtune.conversation import Conversation, MediaPart
from mmtune.errors import DataError
from mmtune.models.families import register
from mmtune.models.families.base import SEQUENCE_KEYS, Family, family_template


@register
class Mllama(Family):
    id = "mllama"
    pack_refusal = (
        "its images reach the text through cross-attention, whose mask and image tensors are per sequence, "
        "not per packed row"
    )
    model_types = ("mllama",)
    modalities = frozenset({"image"})
    template_names = ("llama3_2_vision", "mllama")
    chat_template = family_template("mllama.jinja")
    eot_token = "<|eot_id|>"
    template_options = frozenset({"date_string"})
    media_tokens = ("<|image|>",)
    batched_keys = SEQUENCE_KEYS | {"pixel_values", "aspect_ratio_ids", "aspect_ratio_mask", "cross_attention_mask"}
    token_keys = Family.token_keys | {"cross_attention_mask"}
    vision_pattern = r"^model\.vision_model\."
    projector_pattern = r"^model\.multi_modal_projector\."
    hub_example = "meta-llama/Llama-3.2-11B-Vision-Instruct"

    @classmethod
    def template_message(cls, role: str, parts: list[dict]) -> dict:
        """System content as one string (the hub template trims it as a string and would print a
        typed list as its Python repr); user and assistant content stay typed lists, which the hub
        template iterates."""
        if role != "system":
            return {"role": role, "content": parts}
        media = [p["type"] for p in parts if p["type"] != "text"]
        if media:
            raise DataError(f"a Llama 3.2 Vision system message takes only text (found {media[0]})")
        return {"role": role, "content": "".join(p["text"] for p in parts)}

    @classmethod
    def conversation_vars(cls, conv: Conversation) -> dict:
        """Whether the conversation has an image anywhere (the hub template writes its dated system
        turn only when it has none, or a system message was given)."""
        has = any(isinstance(p, MediaPart) and p.type == "image" for m in conv.messages for p in m.parts)
        return {"has_images": has}

    @classmethod
    def processor_call_kwargs(cls, media: dict[str, list]) -> dict:
        # MllamaProcessor takes images nested per text sample; one row is one sample.
        images = media.get("image") or []
        return {"images": [images]} if images else {}

    @classmethod
    def chunk_ids(cls, processor: Any, text: str, media: dict[str, list]) -> list[int]:
        # `<|image|>` is not expanded, and calling the processor on a chunk would prepend a BOS
        # (it adds one to any text lacking it), so the tokenizer alone gives the chunk's ids.
        return processor.tokenizer(text, add_special_tokens=False)["input_ids"]

    @classmethod
    def prepare_inputs(cls, batch: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """Fit the cross-attention mask to the padded batch.

        A text-only row has no mask, so when it is the longest row of a batch the stacked mask
        is shorter than ``input_ids``; positions past a row's end (and text-only rows) attend to
        no image, which is what zero padding means. Without any image the mask must go.
        """
        batch = super().prepare_inputs(batch, dtype)
        mask = batch.get("cross_attention_mask")
        if mask is None:
            return batch
        if "pixel_values" not in batch:
            batch.pop("cross_attention_mask")
            return batch
        short = batch["input_ids"].shape[1] - mask.shape[1]
        if short > 0:
            batch["cross_attention_mask"] = torch.nn.functional.pad(mask, (0, 0, 0, 0, 0, short))
        return batch
