"""Qwen2.5-VL: Qwen2-VL's ChatML prompt format and media tokens with a windowed-attention vision tower.

Everything the pipeline asks (template, end-of-turn, placeholders, how a ``VideoClip`` becomes
processor kwargs) is inherited from ``Qwen2VL``. What differs is the architecture: the vision
tower has its own hidden size and an ``out_hidden_size`` projected by ``visual.merger``, and the
processor adds ``second_per_grid_ts`` for videos (seconds covered by one temporal patch, computed
from the clip's fps), which the model uses for its temporal rope positions.
"""

from __future__ import annotations

from mmtune.models.families import register
from mmtune.models.families.qwen2_vl import Qwen2VL


@register
class Qwen2_5VL(Qwen2VL):
    id = "qwen2_5_vl"
    model_types = ("qwen2_5_vl",)
    hub_example = "Qwen/Qwen2.5-VL-7B-Instruct"

    tiny_classes = ("Qwen2_5_VLConfig", "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor")

    @classmethod
    def tiny_vision_config(cls, hidden: int, vision_dim: int, vision_depth: int) -> dict:
        # window_size 56 = 2x2 merged patches per window; the last block attends globally,
        # as in the real model (whose windows are 112 px and every 8th block is global).
        return {
            "depth": vision_depth, "hidden_size": vision_dim, "intermediate_size": vision_dim * 2,
            "num_heads": 2, "out_hidden_size": hidden, "patch_size": 14, "spatial_merge_size": 2,
            "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [vision_depth - 1],
        }
