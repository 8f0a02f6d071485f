"""Qwen3-VL and InternVL3 on tiny checkpoints: loading, exact labels, image and video rows, training, predict."""

from __future__ import annotations

import re

import pytest
import torch
from family_checks import (
    check_example_config,
    encode_row,
    row_processor,
    supervised_text,
    train_and_reload,
    two_image_conversation,
    unpack_tensors,
    video_conversation,
    write_gif,
    write_two_images,
)
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmtune.data.media import VideoClip
from mmtune.models.families import family_for_checkpoint, get_family

FAMILIES = ["qwen3_vl", "internvl"]
CLASSES = {
    "qwen3_vl": ("Qwen3VLProcessor", "Qwen3VLForConditionalGeneration"),
    "internvl": ("InternVLProcessor", "InternVLForConditionalGeneration"),
}
COLORS = ("red", "green", "blue", "white")


def _layout(tok, ids: list[int]) -> str:
    """The decoded row with each run of a repeated media token written once as ``tok*n``."""
    text = tok.decode(ids, skip_special_tokens=False)
    return re.sub(r"(<\|image_pad\|>|<\|video_pad\|>|<IMG_CONTEXT>)(\1)*", lambda m: f"{m[1]}*{len(m[0]) // len(m[1])}", text)


def _media_ids(family: str, tok) -> set[int]:
    return {tok.convert_tokens_to_ids(t) for t in get_family(family).media_tokens}


def _supervised_ids(enc: dict) -> set[int]:
    return {t for t in enc["labels"] if t != -100}


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_loads_with_auto_classes(tiny_ckpt, family):
    path = tiny_ckpt(family)
    assert type(AutoProcessor.from_pretrained(path)).__name__ == CLASSES[family][0]
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert type(model).__name__ == CLASSES[family][1]
    assert family_for_checkpoint(str(path)).id == family
    groups = {}
    for name, _ in model.named_parameters():
        groups.setdefault(get_family(family).group_of(name), []).append(name)
    assert set(groups) == {"vision", "projector", "language"}
    assert all(n.startswith("model.language_model.") or n == "lm_head.weight" for n in groups["language"])
    if family == "qwen3_vl":  # DeepStack mergers feed the language model too: they are projector
        assert any("deepstack_merger_list" in n for n in groups["projector"])


EXPECTED_IMAGE_ROWS = {
    # 90x70 -> 96x64 px -> 6x4 patches of 16 px -> 6 tokens after the 2x2 merge; 60x100 -> 64x96 -> 6
    "qwen3_vl": (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|>*6<|vision_end|><|vision_start|><|image_pad|>*6<|vision_end|>"
        "What colors are these?<|im_end|>\n<|im_start|>assistant\nred and blue<|im_end|>\n"
        "<|im_start|>user\nWhich one is first?<|im_end|>\n<|im_start|>assistant\nthe red one<|im_end|>\n"
    ),
    # 90x70 -> 2x2 crops + thumbnail = 5 tiles x 4 tokens; 60x100 -> 1x2 crops + thumbnail = 3 tiles
    "internvl": (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n"
        "<img><IMG_CONTEXT>*20</img>\n<img><IMG_CONTEXT>*12</img>\n"
        "What colors are these?<|im_end|>\n<|im_start|>assistant\nred and blue<|im_end|>\n"
        "<|im_start|>user\nWhich one is first?<|im_end|>\n<|im_start|>assistant\nthe red one<|im_end|>\n"
    ),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_labels_are_exactly_the_assistant_turns(tiny_ckpt, tmp_path, family):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt(family), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    tok = rp.processor.tokenizer
    assert supervised_text(rp, enc) == "red and blue<|im_end|>the red one<|im_end|>"
    assert _layout(tok, enc["input_ids"]) == EXPECTED_IMAGE_ROWS[family]
    assert not _media_ids(family, tok) & _supervised_ids(enc)
    mm = unpack_tensors(enc["mm"])
    if family == "qwen3_vl":
        assert mm["image_grid_thw"].tolist() == [[1, 4, 6], [1, 6, 4]]
        assert mm["pixel_values"].shape == (48, 3 * 2 * 16 * 16)
    else:
        assert mm["pixel_values"].shape == (8, 3, 56, 56)


@pytest.mark.parametrize("family", FAMILIES)
def test_no_default_system_prompt(tiny_ckpt, tmp_path, family):
    """Unlike Qwen2-VL, neither format injects a system prompt the conversation does not have."""
    rp = row_processor(tiny_ckpt(family), tmp_path)
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "red"}]}
    enc = encode_row(rp, row)
    assert rp.processor.tokenizer.decode(enc["input_ids"]) == (
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nred<|im_end|>\n"
    )
    assert supervised_text(rp, enc) == "red<|im_end|>"


def test_qwen3_vl_video_file_is_timestamped_per_temporal_patch(tiny_ckpt, tmp_path):
    """A 2 fps GIF: frames 0-1 and 2-3 share a temporal patch, stamped at their mean time."""
    rp = row_processor(tiny_ckpt("qwen3_vl"), tmp_path)
    enc = encode_row(rp, video_conversation(write_gif(tmp_path)), str(tmp_path))
    assert supervised_text(rp, enc) == "four colors<|im_end|>white<|im_end|>"
    # 96x80 frames -> 96x64 px -> 6x4 patches -> 6 tokens per temporal patch, 2 temporal patches
    assert _layout(rp.processor.tokenizer, enc["input_ids"]).startswith(
        "<|im_start|>user\n<0.2 seconds><|vision_start|><|video_pad|>*6<|vision_end|>"
        "<1.2 seconds><|vision_start|><|video_pad|>*6<|vision_end|>Describe the video.<|im_end|>\n"
    )
    assert unpack_tensors(enc["mm"])["video_grid_thw"].tolist() == [[2, 4, 6]]
    assert not _media_ids("qwen3_vl", rp.processor.tokenizer) & _supervised_ids(enc)


def test_qwen3_vl_checkpoint_template_with_wrapped_video(tiny_ckpt, tmp_path):
    """A hub template writes <|vision_start|><|video_pad|><|vision_end|>: the markers are not doubled."""
    rp = row_processor(tiny_ckpt("qwen3_vl"), tmp_path)
    clip = VideoClip([Image.new("RGB", (96, 80), c) for c in COLORS], fps=2.0, indices=[0, 1, 2, 3], total_frames=4)
    fam, proc = get_family("qwen3_vl"), rp.processor
    bare = fam.encode_full(proc, "<|im_start|>user\n<|video_pad|>Hi", {"video": [clip]})
    wrapped = fam.encode_full(proc, "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Hi", {"video": [clip]})
    assert bare["input_ids"].tolist() == wrapped["input_ids"].tolist()
    assert _layout(proc.tokenizer, wrapped["input_ids"][0].tolist()).count("<|vision_start|>") == 2


def test_internvl_mixed_media_row(tiny_ckpt, tmp_path):
    """Image, a 4-frame clip and a 2-frame clip in one row (the processor alone cannot stack those)."""
    a, _ = write_two_images(tmp_path)
    frames = [Image.new("RGB", (96, 80), c) for c in COLORS]
    rp = row_processor(tiny_ckpt("internvl"), tmp_path)
    row = {"messages": [
        {"role": "user", "content": [{"type": "video", "video": frames}, {"type": "text", "text": "Describe the video."}]},
        {"role": "assistant", "content": "four colors"},
        {"role": "user", "content": [
            {"type": "image", "path": a}, {"type": "text", "text": "And these?"}, {"type": "video", "video": frames[:2]},
        ]},
        {"role": "assistant", "content": "red"},
    ]}
    enc = encode_row(rp, row, str(tmp_path))
    assert supervised_text(rp, enc) == "four colors<|im_end|>red<|im_end|>"
    frame = "<img><IMG_CONTEXT>*4</img>"
    assert _layout(rp.processor.tokenizer, enc["input_ids"]) == (
        "<|im_start|>user\n" + "\n".join(f"Frame{i}: {frame}" for i in range(1, 5)) + "\nDescribe the video.<|im_end|>\n"
        "<|im_start|>assistant\nfour colors<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT>*20</img>\nAnd these?"
        f"Frame1: {frame}\nFrame2: {frame}\n<|im_end|>\n<|im_start|>assistant\nred<|im_end|>\n"
    )
    # 4 frames, then the image's 5 tiles, then 2 frames: the order of the text
    pixels = unpack_tensors(enc["mm"])["pixel_values"]
    assert pixels.shape == (11, 3, 56, 56)
    assert not _media_ids("internvl", rp.processor.tokenizer) & _supervised_ids(enc)


def test_internvl_per_item_expansion_matches_the_processor(tiny_ckpt):
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


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("adapter", ["lora", None])
def test_training_lowers_loss_and_output_reloads(tiny_ckpt, tmp_path, family, adapter):
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(a, b)] * 4
    result, pred = train_and_reload(tiny_ckpt(family), rows, tmp_path, adapter=adapter)
    fam = get_family(family)
    trainable = [n.replace("base_model.model.", "") for n, p in result.model.named_parameters() if p.requires_grad]
    groups = {fam.group_of(n) for n in trainable}
    if adapter:
        assert trainable and all("lora_" in n and n.startswith("model.language_model.") for n in trainable)
    else:  # full fine-tuning: the vision tower stays frozen, projector and language model train
        assert groups == {"projector", "language"}
    assert isinstance(pred.generate("What colors are these?", images=[str(tmp_path / a)], max_new_tokens=4), str)


@pytest.mark.parametrize("family", FAMILIES)
def test_video_training_and_predict(tiny_ckpt, tmp_path, family):
    clip = write_gif(tmp_path)
    rows = [video_conversation(clip)] * 4
    _, pred = train_and_reload(tiny_ckpt(family), rows, tmp_path, max_steps=8)
    assert isinstance(pred.generate("Describe the video.", videos=[str(tmp_path / clip)], max_new_tokens=3), str)


@pytest.mark.parametrize("family", FAMILIES)
def test_example_config_is_valid(family):
    cfg = check_example_config(family)
    assert cfg.chat_template in get_family(family).template_names
    assert cfg.datasets[0].type == "chat_template"
