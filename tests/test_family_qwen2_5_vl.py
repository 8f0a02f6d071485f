"""Qwen2.5-VL on a tiny checkpoint, plus video rows for both Qwen2-VL and Qwen2.5-VL."""

from __future__ import annotations

import pytest
import torch
from family_checks import (
    check_example_config,
    encode_row,
    row_processor,
    supervised_text,
    train_and_reload,
    trainable_names,
    two_image_conversation,
    unpack_tensors,
    video_conversation,
    write_gif,
    write_two_images,
)
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmtune.models.families import family_for_checkpoint, get_family

QWEN_MEDIA = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def _media_ids(rp) -> set[int]:
    return {rp.processor.tokenizer.convert_tokens_to_ids(t) for t in QWEN_MEDIA}


def test_tiny_loads_with_auto_classes(tiny_ckpt):
    path = tiny_ckpt("qwen2_5_vl")
    assert type(AutoProcessor.from_pretrained(path)).__name__ == "Qwen2_5_VLProcessor"
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert family_for_checkpoint(str(path)).id == "qwen2_5_vl"
    groups = {get_family("qwen2_5_vl").group_of(n) for n, _ in model.named_parameters()}
    assert groups == {"vision", "projector", "language"}


def test_labels_are_exactly_the_assistant_turns(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("qwen2_5_vl"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    assert supervised_text(rp, enc) == "red and blue<|im_end|>the red one<|im_end|>"
    ids = set(enc["input_ids"])
    assert {rp.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")} <= ids
    assert not _media_ids(rp) & {t for t in enc["labels"] if t != -100}
    assert unpack_tensors(enc["mm"])["image_grid_thw"].shape == (2, 3)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_video_rows_mask_video_tokens(tiny_ckpt, tmp_path, family):
    rp = row_processor(tiny_ckpt(family), tmp_path)
    enc = encode_row(rp, video_conversation(write_gif(tmp_path)), str(tmp_path))
    assert supervised_text(rp, enc) == "four colors<|im_end|>white<|im_end|>"
    pad = rp.processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    mm = unpack_tensors(enc["mm"])
    # 4 frames of 96x80 -> grid (t=2, h=6, w=6) -> 72 patches / 2x2 merge = 18 placeholder tokens
    assert mm["video_grid_thw"].tolist() == [[2, 6, 6]]
    assert enc["input_ids"].count(pad) == 18
    assert not _media_ids(rp) & {t for t in enc["labels"] if t != -100}
    if family == "qwen2_5_vl":  # the GIF's 2 fps reach the model: 2 frames per temporal patch = 1 s
        assert mm["second_per_grid_ts"].tolist() == [1.0]


def test_video_frames_in_memory(tiny_ckpt, tmp_path):
    """A list of PIL frames (no timing) is a video too; bare frames count as 1 fps."""
    rp = row_processor(tiny_ckpt("qwen2_5_vl"), tmp_path)
    frames = [Image.new("RGB", (96, 80), c) for c in ("red", "green", "blue", "white")]
    row = {"messages": [
        {"role": "user", "content": [{"type": "video", "video": frames}, {"type": "text", "text": "Colors?"}]},
        {"role": "assistant", "content": "four"},
    ]}
    enc = encode_row(rp, row)
    assert supervised_text(rp, enc) == "four<|im_end|>"
    assert unpack_tensors(enc["mm"])["second_per_grid_ts"].tolist() == [2.0]


@pytest.mark.parametrize("adapter", ["lora", None])
def test_training_lowers_loss_and_output_reloads(tiny_ckpt, tmp_path, adapter):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(a, b)] * 4
    result, pred = train_and_reload(tiny_ckpt("qwen2_5_vl"), rows, tmp_path, adapter=adapter)
    trainable = trainable_names(result.model)
    if adapter:
        assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    else:  # full fine-tuning: the vision tower stays frozen, the merger (projector) trains
        assert not any(".visual." in n and ".merger." not in n for n in trainable)
        assert any(".visual.merger." in n for n in trainable) and any("language_model" in n for n in trainable)
    assert isinstance(pred.generate("What colors are these?", images=[str(tmp_path / a)], max_new_tokens=4), str)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_video_training_and_predict(tiny_ckpt, tmp_path, family):
    clip = write_gif(tmp_path)
    rows = [video_conversation(clip)] * 4
    _, pred = train_and_reload(tiny_ckpt(family), rows, tmp_path, max_steps=8)
    assert isinstance(pred.generate("Describe the video.", videos=[str(tmp_path / clip)], max_new_tokens=3), str)


def test_example_config_is_valid():
    cfg = check_example_config("qwen2_5_vl")
    assert cfg.chat_template in get_family("qwen2_5_vl").template_names


def test_vision_dtype_cast_for_bf16(tiny_ckpt, tmp_path):
    """Pixels are cast to the model dtype at the last moment (bf16 training on GPU)."""
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("qwen2_5_vl"), tmp_path)
    mm = unpack_tensors(encode_row(rp, two_image_conversation(a, b), str(tmp_path))["mm"])
    out = get_family("qwen2_5_vl").prepare_inputs(dict(mm), torch.bfloat16)
    assert out["pixel_values"].dtype == torch.bfloat16 and out["image_grid_thw"].dtype == torch.int64
