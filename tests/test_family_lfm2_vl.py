"""LFM2-VL quirks: ChatML after one BOS, tiled images, LoRA on both block kinds of the hybrid LM.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import re

from family_checks import (
    encode_row,
    row_processor,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)

from mmtune.models.families import get_family

FAMILY = get_family("lfm2_vl")
IMAGE_SIZES = ((300, 200), (60, 50))  # 2x2 tiles + thumbnail; one tile


def test_default_lora_targets_reach_conv_attention_and_feed_forward(tiny_ckpt):
    model = FAMILY.model_class().from_pretrained(tiny_ckpt("lfm2_vl"))
    targets = [n for n, _ in model.named_modules() if re.search(FAMILY.default_lora_targets(), n)]
    assert {n.split(".", 4)[-1] for n in targets} >= {
        "conv.in_proj",
        "conv.out_proj",
        "self_attn.q_proj",
        "self_attn.out_proj",
        "feed_forward.w2",
    }
    assert all(n.startswith("model.language_model.layers.") for n in targets)


def test_one_bos_and_tiles_with_a_thumbnail(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path, IMAGE_SIZES)
    rp = row_processor(tiny_ckpt("lfm2_vl"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    text = tokenizer(rp).decode(enc["input_ids"])
    assert text.startswith(
        "<|startoftext|><|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n<|image_start|>"
    )
    assert text.count("<|startoftext|>") == 1
    mm = unpack_tensors(enc["mm"])
    assert mm["pixel_values"].shape[0] == mm["spatial_shapes"].shape[0] == 6  # 4 tiles + thumbnail + 1
