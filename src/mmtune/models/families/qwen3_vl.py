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

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.base import family_template
from mmtune.models.families.qwen2_vl import SPECIALS, Qwen2VL
from mmtune.models.tiny_save import save_tiny

_WRAPPED_VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"


def _bare_videos(text: str) -> str:
    """The rendered text as Qwen3-VL's processor expects it: one bare pad token per video."""
    return text.replace(_WRAPPED_VIDEO, "<|video_pad|>")


@register
class Qwen3VL(Qwen2VL):
    id = "qwen3_vl"
    model_types = ("qwen3_vl",)
    template_names = ("qwen3_vl",)
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

    @classmethod
    def tiny_configs(cls, tok: Any, hidden: int, layers: int, vision_dim: int, vision_depth: int) -> Any:
        from transformers import Qwen3VLConfig

        ids = tok.convert_tokens_to_ids
        heads = max(2, hidden // 16)
        return Qwen3VLConfig(
            text_config={
                "vocab_size": len(tok), "hidden_size": hidden, "intermediate_size": hidden * 2,
                "num_hidden_layers": layers, "num_attention_heads": heads, "head_dim": 16,
                "num_key_value_heads": max(1, heads // 2), "max_position_embeddings": 4096,
                # head_dim 16 -> 8 rotary frequencies split over (t, h, w), interleaved as in the real model
                "rope_parameters": {
                    "rope_type": "default", "rope_theta": 5e6, "mrope_section": [4, 2, 2], "mrope_interleaved": True,
                },
                "bos_token_id": ids("<|endoftext|>"), "eos_token_id": ids("<|im_end|>"),
                "pad_token_id": ids("<|endoftext|>"), "tie_word_embeddings": True,
            },
            vision_config={
                # 64 learned positions = an 8x8 grid, interpolated to each image's patch grid;
                # DeepStack injects the first block's features into the first LM layer.
                "depth": vision_depth, "hidden_size": vision_dim, "intermediate_size": vision_dim * 2,
                "num_heads": 2, "out_hidden_size": hidden, "patch_size": 16, "spatial_merge_size": 2,
                "temporal_patch_size": 2, "num_position_embeddings": 64, "deepstack_visual_indexes": [0],
            },
            image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
            vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
            tie_word_embeddings=True,
        )

    @classmethod
    def make_tiny(
        cls, out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, vision_dim: int = 32,
        vision_depth: int = 2, **_: Any,
    ) -> None:
        from transformers import (
            Qwen2VLImageProcessor,
            Qwen3VLForConditionalGeneration,
            Qwen3VLProcessor,
            Qwen3VLVideoProcessor,
        )

        from mmtune.models.tiny_tokenizer import train_tokenizer

        tok = train_tokenizer(SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=cls.chat_template)
        # One token per 32x32 pixels (16 px patches, 2x2 merge); images between 64x64 and 128x128 px,
        # a video's frames together between 4 and 16 frames of 64x64.
        processor = Qwen3VLProcessor(
            image_processor=Qwen2VLImageProcessor(
                size={"shortest_edge": 64 * 64, "longest_edge": 128 * 128}, patch_size=16, merge_size=2,
                temporal_patch_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3,
            ),
            video_processor=Qwen3VLVideoProcessor(
                size={"shortest_edge": 4 * 64 * 64, "longest_edge": 16 * 64 * 64}, patch_size=16, merge_size=2,
                temporal_patch_size=2, do_sample_frames=False,
            ),
            tokenizer=tok,
            chat_template=cls.chat_template,
        )
        torch.manual_seed(seed)
        model = Qwen3VLForConditionalGeneration(cls.tiny_configs(tok, hidden, layers, vision_dim, vision_depth))
        save_tiny(model, processor, out_dir, cls.id)
