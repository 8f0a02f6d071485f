"""Qwen2-VL and Qwen2.5-VL: ChatML turns, <|vision_start|><|image_pad|><|vision_end|> media.

The model computes its multi-axis (t, h, w) rope positions itself from ``input_ids`` and the
``image_grid_thw`` / ``video_grid_thw`` the processor returns, so the pipeline only carries
those tensors along. Packed rows (``sample_packing``) get those positions row by row from the
model's own ``get_rope_index`` (``packed_positions``). Flattened patches (``pixel_values``
[n_patches, C*T*P*P]) concatenate across a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import Family, family_template, rope_index_positions, video_metadata


@register
class Qwen2VL(Family):
    id = "qwen2_vl"
    model_types = ("qwen2_vl",)
    image_tokens_scale_with_size = True  # one token per 28x28 pixels (dynamic resolution)
    modalities = frozenset({"image", "video"})
    template_names = ("qwen2_vl", "qwen2_5_vl", "chatml")
    chat_template = family_template("qwen2_vl.jinja")
    eot_token = "<|im_end|>"
    template_options = frozenset({"add_vision_id"})
    media_tokens = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    vision_pattern = r"^model\.visual\.(?!merger\.)"
    projector_pattern = r"^model\.visual\.merger\."
    hub_example = "Qwen/Qwen2-VL-7B-Instruct"
    can_pack = True

    @classmethod
    def image_target_size(cls, processor: Any, size: tuple[int, int]) -> tuple[int, int] | None:
        """The image processor's own ``smart_resize``: sides a multiple of patch x merge, pixels within
        its shortest_edge / longest_edge (min / max pixels)."""
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

        ip = getattr(processor, "image_processor", None)
        bounds = getattr(ip, "size", None)
        lo, hi = getattr(bounds, "shortest_edge", None), getattr(bounds, "longest_edge", None)
        if ip is None or not lo or not hi:
            return None
        w, h = size
        try:
            th, tw = smart_resize(h, w, ip.patch_size * ip.merge_size, min_pixels=lo, max_pixels=hi)
        except ValueError:  # an extreme aspect ratio: the processor's own error names it
            return None
        return tw, th

    @classmethod
    def packed_positions(cls, model: Any) -> Callable[[dict[str, torch.Tensor]], torch.Tensor] | None:
        return rope_index_positions(model)

    @classmethod
    def processor_call_kwargs(cls, media: dict[str, list]) -> dict:
        """Videos go in as frame lists with their timing (Qwen2.5-VL derives temporal positions from it)."""
        kw = super().processor_call_kwargs({k: v for k, v in media.items() if k != "video"})
        clips = media.get("video") or []
        if clips:
            kw["videos"] = [list(c.frames) for c in clips]
            kw["video_metadata"] = [video_metadata(c) for c in clips]
        return kw
