"""Qwen3-VL quirks: DeepStack mergers, the image row layout, timestamped video patches.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

from family_checks import (
    encode_row,
    layout,
    row_processor,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    video_conversation,
    write_gif,
    write_two_images,
)
from PIL import Image

from mmtune.data.media import VideoClip
from mmtune.models.families import get_family

FAMILY = get_family("qwen3_vl")
COLORS = ("red", "green", "blue", "white")


def test_deepstack_mergers_are_projector(tiny_ckpt):
    """DeepStack mergers feed the language model too: they are projector."""
    model = FAMILY.model_class().from_pretrained(tiny_ckpt("qwen3_vl"))
    assert any("deepstack_merger_list" in n for n, _ in model.named_parameters() if FAMILY.group_of(n) == "projector")


def test_image_row_layout(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("qwen3_vl"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    # 90x70 -> 96x64 px -> 6x4 patches of 16 px -> 6 tokens after the 2x2 merge; 60x100 -> 64x96 -> 6
    assert layout(tokenizer(rp), enc["input_ids"]) == (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|>*6<|vision_end|><|vision_start|><|image_pad|>*6<|vision_end|>"
        "What colors are these?<|im_end|>\n<|im_start|>assistant\nred and blue<|im_end|>\n"
        "<|im_start|>user\nWhich one is first?<|im_end|>\n<|im_start|>assistant\nthe red one<|im_end|>\n"
    )
    mm = unpack_tensors(enc["mm"])
    assert mm["image_grid_thw"].tolist() == [[1, 4, 6], [1, 6, 4]]
    assert mm["pixel_values"].shape == (48, 3 * 2 * 16 * 16)


def test_video_file_is_timestamped_per_temporal_patch(tiny_ckpt, tmp_path):
    """A 2 fps GIF: frames 0-1 and 2-3 share a temporal patch, stamped at their mean time."""
    rp = row_processor(tiny_ckpt("qwen3_vl"), tmp_path)
    enc = encode_row(rp, video_conversation(write_gif(tmp_path)), str(tmp_path))
    # 96x80 frames -> 96x64 px -> 6x4 patches -> 6 tokens per temporal patch, 2 temporal patches
    assert layout(tokenizer(rp), enc["input_ids"]).startswith(
        "<|im_start|>user\n<0.2 seconds><|vision_start|><|video_pad|>*6<|vision_end|>"
        "<1.2 seconds><|vision_start|><|video_pad|>*6<|vision_end|>Describe the video.<|im_end|>\n"
    )
    assert unpack_tensors(enc["mm"])["video_grid_thw"].tolist() == [[2, 4, 6]]


def test_checkpoint_template_with_wrapped_video(tiny_ckpt, tmp_path):
    """A hub template writes <|vision_start|><|video_pad|><|vision_end|>: the markers are not doubled."""
    rp = row_processor(tiny_ckpt("qwen3_vl"), tmp_path)
    clip = VideoClip([Image.new("RGB", (96, 80), c) for c in COLORS], fps=2.0, indices=[0, 1, 2, 3], total_frames=4)
    proc = rp.processor
    bare = FAMILY.encode_full(proc, "<|im_start|>user\n<|video_pad|>Hi", {"video": [clip]})
    wrapped = FAMILY.encode_full(
        proc, "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Hi", {"video": [clip]}
    )
    assert bare["input_ids"].tolist() == wrapped["input_ids"].tolist()
    assert layout(proc.tokenizer, wrapped["input_ids"][0].tolist()).count("<|vision_start|>") == 2


def test_axolotls_qwen2_vl_template_name_is_refused_saying_why(tiny_ckpt, tmp_path):
    """Axolotl's docs pair Qwen3-VL with chat_template: qwen2_vl. The two render differently: the
    Qwen2-VL template opens a conversation without a system message with its default system turn."""
    import pytest
    from family_checks import tiny_config, write_jsonl

    from mmtune.errors import ConfigError
    from mmtune.models.families import get_family
    from mmtune.preprocess.settings import settings_from_config

    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    with pytest.raises(ConfigError) as e:
        settings_from_config(tiny_config(tiny_ckpt("qwen3_vl"), data, tmp_path, chat_template="qwen2_vl"))
    assert str(e.value) == (
        "chat_template 'qwen2_vl' does not fit model family 'qwen3_vl': "
        + get_family("qwen3_vl").foreign_template_names["qwen2_vl"]
        + "; names that fit: qwen3_vl, tokenizer_default"
    )
    from jinja2 import Template

    chat = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    qwen2 = Template(get_family("qwen2_vl").chat_template).render(messages=chat, add_generation_prompt=True)
    qwen3 = Template(get_family("qwen3_vl").chat_template).render(messages=chat, add_generation_prompt=True)
    assert qwen2.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    assert qwen3 == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
