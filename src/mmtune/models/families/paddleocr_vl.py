"""PaddleOCR-VL (0.9B, 1.5, 1.6): a NaViT-style SigLIP encoder, a 2x2-merging projector, ERNIE-4.5-0.3B.

The parameters are ``model.visual.vision_model.*`` (vision tower), ``model.projector.*`` (a LayerNorm and
two linear layers after the 2x2 merge) and ``model.language_model.*`` (Llama-like attention and MLP
names). Images go in as flattened 14 px patches (``pixel_values`` [n_patches, 3, 14, 14]) with
``image_grid_thw``; ``<|IMAGE_PLACEHOLDER|>`` becomes one token per 28x28 pixels between
``<|IMAGE_START|>`` and ``<|IMAGE_END|>``, and the model builds its 3-axis rope positions from
``mm_token_type_ids``. The processor looks the placeholder up as the tokenizer's ``image_token``.

The chat format is ERNIE's: ``<|begin_of_sentence|>``, ``User: `` + images + text + ``\\n``,
``Assistant:\\n`` + answer + ``</s>``; system texts are lines of their own before the first turn. The
hub template writes a message's images before its texts, so the transform moves them there too (as
LLaVA's does), and a media item always lands in the chunk that holds its placeholder. Prompts for the
OCR tasks are plain user texts (``OCR:``, ``Table Recognition:``, ``Formula Recognition:``,
``Chart Recognition:``, ``Seal Recognition:``, ``Spotting:``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mmtune.conversation import Conversation
from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template, rope_index_positions
from mmtune.models.families.llava import media_first
from mmtune.transforms.base import Transform, TransformSettings
from mmtune.transforms.chat_template import ChatTemplateTransform
from mmtune.transforms.labels import Encoded


class ImagesFirstTransform(ChatTemplateTransform):
    """The chat-template transform on conversations whose messages list their images before their texts."""

    def __call__(self, conv: Conversation) -> Encoded:
        return super().__call__(media_first(conv))

    def prompt(self, conv: Conversation) -> dict[str, torch.Tensor]:
        return super().prompt(media_first(conv))


@register
class PaddleOcrVl(Family):
    id = "paddleocr_vl"
    can_pack = True  # packed rows train as if alone (tests/test_packing.py)
    model_types = ("paddleocr_vl",)
    image_tokens_scale_with_size = True  # one token per merged patch (dynamic resolution)
    modalities = frozenset({"image"})
    template_names = ("paddleocr_vl",)
    chat_template = family_template("paddleocr_vl.jinja")
    eot_token = "</s>"
    media_tokens = ("<|IMAGE_START|>", "<|IMAGE_PLACEHOLDER|>", "<|IMAGE_END|>")
    vision_pattern = r"^model\.visual\."
    projector_pattern = r"^model\.projector\."
    hub_example = "PaddlePaddle/PaddleOCR-VL-1.6"

    @classmethod
    def packed_positions(cls, model: Any) -> Callable[[dict[str, torch.Tensor]], torch.Tensor] | None:
        """3-D rope positions, row by row from the model's own rope index."""
        return rope_index_positions(model)

    @classmethod
    def transform(cls, processor: Any, settings: TransformSettings) -> Transform:
        return ImagesFirstTransform(cls, processor, settings)
