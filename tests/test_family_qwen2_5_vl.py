"""Qwen2.5-VL quirks: image and video grids, seconds per temporal patch, pixels cast at the last moment.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import torch
from family_checks import (
    encode_row,
    row_processor,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    video_conversation,
    write_gif,
    write_two_images,
)
from PIL import Image

from mmtune.models.families import get_family


def test_image_grid_per_image(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("qwen2_5_vl"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    assert unpack_tensors(enc["mm"])["image_grid_thw"].shape == (2, 3)


def test_video_grid_and_seconds_per_temporal_patch(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("qwen2_5_vl"), tmp_path)
    enc = encode_row(rp, video_conversation(write_gif(tmp_path)), str(tmp_path))
    mm = unpack_tensors(enc["mm"])
    # 4 frames of 96x80 -> grid (t=2, h=6, w=6) -> 72 patches / 2x2 merge = 18 placeholder tokens
    assert mm["video_grid_thw"].tolist() == [[2, 6, 6]]
    assert enc["input_ids"].count(tokenizer(rp).convert_tokens_to_ids("<|video_pad|>")) == 18
    # the GIF's 2 fps reach the model: 2 frames per temporal patch = 1 s
    assert mm["second_per_grid_ts"].tolist() == [1.0]


def test_video_frames_in_memory(tiny_ckpt, tmp_path):
    """A list of PIL frames (no timing) is a video too; bare frames count as 1 fps."""
    rp = row_processor(tiny_ckpt("qwen2_5_vl"), tmp_path)
    frames = [Image.new("RGB", (96, 80), c) for c in ("red", "green", "blue", "white")]
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "video", "video": frames}, {"type": "text", "text": "Colors?"}]},
            {"role": "assistant", "content": "four"},
        ]
    }
    enc = encode_row(rp, row)
    assert supervised_text(rp, enc) == "four<|im_end|>"
    assert unpack_tensors(enc["mm"])["second_per_grid_ts"].tolist() == [2.0]


def test_vision_dtype_cast_for_bf16(tiny_ckpt, tmp_path):
    """Pixels are cast to the model dtype at the last moment (bf16 training on GPU)."""
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("qwen2_5_vl"), tmp_path)
    mm = unpack_tensors(encode_row(rp, two_image_conversation(a, b), str(tmp_path))["mm"])
    out = get_family("qwen2_5_vl").prepare_inputs(dict(mm), torch.bfloat16)
    assert out["pixel_values"].dtype == torch.bfloat16 and out["image_grid_thw"].dtype == torch.int64
