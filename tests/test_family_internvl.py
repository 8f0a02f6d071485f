"""InternVL quirks: image tiles, "FrameN:" video prompts, images and clips of different lengths in one row.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import torch
from family_checks import (
    encode_row,
    layout,
    media_ids,
    row_processor,
    supervised_ids,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)
from PIL import Image
from transformers import AutoProcessor

from mmtune.data.media import VideoClip
from mmtune.models.families import get_family

COLORS = ("red", "green", "blue", "white")


def test_image_tiles(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("internvl"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    # 90x70 -> 2x2 crops + thumbnail = 5 tiles x 4 tokens; 60x100 -> 1x2 crops + thumbnail = 3 tiles
    assert layout(tokenizer(rp), enc["input_ids"]) == (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n"
        "<img><IMG_CONTEXT>*20</img>\n<img><IMG_CONTEXT>*12</img>\n"
        "What colors are these?<|im_end|>\n<|im_start|>assistant\nred and blue<|im_end|>\n"
        "<|im_start|>user\nWhich one is first?<|im_end|>\n<|im_start|>assistant\nthe red one<|im_end|>\n"
    )
    assert unpack_tensors(enc["mm"])["pixel_values"].shape == (8, 3, 56, 56)


def test_mixed_media_row(tiny_ckpt, tmp_path):
    """Image, a 4-frame clip and a 2-frame clip in one row (the processor alone cannot stack those)."""
    a, _ = write_two_images(tmp_path)
    frames = [Image.new("RGB", (96, 80), c) for c in COLORS]
    rp = row_processor(tiny_ckpt("internvl"), tmp_path)
    row = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "video", "video": frames}, {"type": "text", "text": "Describe the video."}],
            },
            {"role": "assistant", "content": "four colors"},
            {
                "role": "user",
                "content": [
                    {"type": "image", "path": a},
                    {"type": "text", "text": "And these?"},
                    {"type": "video", "video": frames[:2]},
                ],
            },
            {"role": "assistant", "content": "red"},
        ]
    }
    enc = encode_row(rp, row, str(tmp_path))
    assert supervised_text(rp, enc) == "four colors<|im_end|>red<|im_end|>"
    frame = "<img><IMG_CONTEXT>*4</img>"
    assert layout(tokenizer(rp), enc["input_ids"]) == (
        "<|im_start|>user\n"
        + "\n".join(f"Frame{i}: {frame}" for i in range(1, 5))
        + "\nDescribe the video.<|im_end|>\n"
        "<|im_start|>assistant\nfour colors<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT>*20</img>\nAnd these?"
        f"Frame1: {frame}\nFrame2: {frame}\n<|im_end|>\n<|im_start|>assistant\nred<|im_end|>\n"
    )
    # 4 frames, then the image's 5 tiles, then 2 frames: the order of the text
    pixels = unpack_tensors(enc["mm"])["pixel_values"]
    assert pixels.shape == (11, 3, 56, 56)
    assert not media_ids(rp) & supervised_ids(enc)


def test_per_item_expansion_matches_the_processor(tiny_ckpt):
    """Where the processor can take a row whole (one clip), the family's per-item path gives the same inputs."""
    path = tiny_ckpt("internvl")
    fam, proc = get_family("internvl"), AutoProcessor.from_pretrained(path)
    img = Image.new("RGB", (90, 70), "red")
    clip = VideoClip([Image.new("RGB", (96, 80), c) for c in COLORS], fps=1.0, indices=[0, 1, 2, 3], total_frames=4)
    text = "<|im_start|>user\n<video>\nSee<IMG_CONTEXT>\nthis?<|im_end|>\n"
    ours = fam.encode_full(proc, text, {"image": [img], "video": [clip]})
    ref = proc(text=[text], images=[img], videos=[list(clip.frames)], add_special_tokens=False, return_tensors="pt")
    assert ours["input_ids"].tolist() == ref["input_ids"].tolist()
    torch.testing.assert_close(ours["pixel_values"], ref["pixel_values"])
