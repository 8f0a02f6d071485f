"""Qwen2.5-VL: Qwen2-VL's ChatML prompt format and media tokens with a windowed-attention vision tower.

Everything the pipeline asks (template, end-of-turn, placeholders, how a ``VideoClip`` becomes
processor kwargs) is inherited from ``Qwen2VL``. What differs is the architecture: the vision
tower has its own hidden size and an ``out_hidden_size`` projected by ``visual.merger``, and the
processor adds ``second_per_grid_ts`` for videos (seconds covered by one temporal patch, computed
from the clip's fps), which the model uses for its temporal rope positions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mmtune.models.families import register
from mmtune.models.families.qwen2_vl import SPECIALS, Qwen2VL
from mmtune.models.tiny_save import save_tiny


@register
class Qwen2_5VL(Qwen2VL):
    id = "qwen2_5_vl"
    model_types = ("qwen2_5_vl",)
    hub_example = "Qwen/Qwen2.5-VL-7B-Instruct"

    @classmethod
    def tiny_configs(cls, tok: Any, hidden: int, layers: int, vision_dim: int, vision_depth: int) -> Any:
        from transformers import Qwen2_5_VLConfig

        ids = tok.convert_tokens_to_ids
        heads = max(2, hidden // 16)
        return Qwen2_5_VLConfig(
            text_config={
                "vocab_size": len(tok), "hidden_size": hidden, "intermediate_size": hidden * 2,
                "num_hidden_layers": layers, "num_attention_heads": heads,
                "num_key_value_heads": max(1, heads // 2), "max_position_embeddings": 4096,
                "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
                "bos_token_id": ids("<|endoftext|>"), "eos_token_id": ids("<|im_end|>"),
                "pad_token_id": ids("<|endoftext|>"), "tie_word_embeddings": True,
            },
            vision_config={
                # window_size 56 = 2x2 merged patches per window; the last block attends globally,
                # as in the real model (whose windows are 112 px and every 8th block is global).
                "depth": vision_depth, "hidden_size": vision_dim, "intermediate_size": vision_dim * 2,
                "num_heads": 2, "out_hidden_size": hidden, "patch_size": 14, "spatial_merge_size": 2,
                "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [vision_depth - 1],
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
            Qwen2_5_VLForConditionalGeneration,
            Qwen2_5_VLProcessor,
            Qwen2VLImageProcessor,
            Qwen2VLVideoProcessor,
        )

        from mmtune.models.tiny_tokenizer import train_tokenizer

        tok = train_tokenizer(SPECIALS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=cls.chat_template)
        processor = Qwen2_5_VLProcessor(
            image_processor=Qwen2VLImageProcessor(
                size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112}, patch_size=14, merge_size=2,
                temporal_patch_size=2,
            ),
            video_processor=Qwen2VLVideoProcessor(
                size={"shortest_edge": 56 * 56, "longest_edge": 4 * 112 * 112}, do_sample_frames=False
            ),
            tokenizer=tok,
            chat_template=cls.chat_template,
        )
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(cls.tiny_configs(tok, hidden, layers, vision_dim, vision_depth))
        save_tiny(model, processor, out_dir, cls.id)
