"""Qwen2.5-VL's tiny checkpoint: Qwen2-VL's recipe with its own classes and windowed-attention vision tower."""

from __future__ import annotations

from pathlib import Path

from mmtune.tiny import TinySizes, recipe
from mmtune.tiny.qwen2_vl import build

CLASSES = ("Qwen2_5_VLConfig", "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor")


def vision_config(sizes: TinySizes) -> dict:
    # window_size 56 = 2x2 merged patches per window; the last block attends globally,
    # as in the real model (whose windows are 112 px and every 8th block is global).
    return {
        "depth": sizes.vision_layers,
        "hidden_size": sizes.vision_dim,
        "intermediate_size": sizes.vision_dim * 2,
        "num_heads": 2,
        "out_hidden_size": sizes.hidden,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 56,
        "fullatt_block_indexes": [sizes.vision_layers - 1],
    }


@recipe("qwen2_5_vl")
def qwen2_5_vl(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    build("qwen2_5_vl", out_dir, seed, sizes, CLASSES, vision_config)
