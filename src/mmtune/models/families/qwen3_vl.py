"""Qwen3-VL: ChatML turns like Qwen2-VL, 16 px patches, DeepStack mergers and timestamped video.

Differences from Qwen2-VL that the pipeline cares about:

- The prompt format has no default system prompt: a conversation without a system message
  starts straight at the first user turn.
- Video is laid out per temporal patch: ``<0.2 seconds><|vision_start|><|video_pad|>...
  <|vision_end|><1.2 seconds><|vision_start|>...``. The chat template writes one
  ``<|vision_start|><|video_pad|><|vision_end|>`` per video (as the checkpoint's own template
  does), and the processor's expansion already carries a begin/end pair per temporal patch, so
  the family hands the processor a bare ``<|video_pad|>`` for each wrapped video (transformers'
  generic expansion replaces only the pad token and would otherwise nest the markers).
- Timestamps are computed from ``video_metadata`` (fps + source frame indices): without it bare
  frames are stamped as if shot at 24 fps. The pipeline has already sampled the frames, so the
  processor must not sample again (the Qwen3-VL video processor samples by default).
- The vision tower feeds the language model through ``visual.merger`` and, at a few
  intermediate layers, ``visual.deepstack_merger_list``: both are the projector.
"""

from __future__ import annotations

from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import family_template
from mmtune.models.families.qwen2_vl import Qwen2VL

_WRAPPED_VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"


def _bare_videos(text: str) -> str:
    """The rendered text as Qwen3-VL's processor expects it: one bare pad token per video."""
    return text.replace(_WRAPPED_VIDEO, "<|video_pad|>")


@register
class Qwen3VL(Qwen2VL):
    id = "qwen3_vl"
    model_types = ("qwen3_vl",)
    template_names = ("qwen3_vl",)
    foreign_template_names = {
        "qwen2_vl": "Axolotl's docs suggest it for Qwen3-VL, but it does not render what Qwen3-VL was trained on: "
        "a conversation without a system message would start with Qwen2-VL's 'You are a helpful assistant.' "
        "turn, which Qwen3-VL's own template never writes (leave chat_template out to use the checkpoint's own "
        "template)",
    }
    chat_template = family_template("qwen3_vl.jinja")
    vision_pattern = r"^model\.visual\.(?!merger\.|deepstack_merger_list\.)"
    projector_pattern = r"^model\.visual\.(merger|deepstack_merger_list)\."
    hub_example = "Qwen/Qwen3-VL-2B-Instruct"

    @classmethod
    def processor_call_kwargs(cls, media: dict[str, list]) -> dict:
        kw = super().processor_call_kwargs(media)
        if "videos" in kw:
            # Frames are already sampled by the decoder (video_fps / video_max_frames); each frame's
            # pixels are capped as in Qwen's reference preprocessing (qwen-vl-utils), which the
            # model was trained with, so a short clip does not spend the whole budget on few frames.
            kw["do_sample_frames"] = False
            kw["cap_pixels_per_frame"] = True
        return kw

    @classmethod
    def chunk_ids(cls, processor: Any, text: str, media: dict[str, list]) -> list[int]:
        return super().chunk_ids(processor, _bare_videos(text), media)

    @classmethod
    def encode_full(cls, processor: Any, text: str, media: dict[str, list]) -> dict[str, torch.Tensor]:
        return super().encode_full(processor, _bare_videos(text), media)
