"""Qwen2-VL quirks: the default system prompt its template adds, its video grid.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

from family_checks import (
    encode_row,
    row_processor,
    supervised_text,
    tokenizer,
    unpack_tensors,
    video_conversation,
    write_gif,
)


def test_default_system_prompt_is_never_trained(tiny_ckpt, tmp_path):
    """The template adds "You are a helpful assistant." to a conversation without a system turn;
    training user turns trains what the user wrote, not that."""
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path, roles_to_train=["user", "assistant"])
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}]}
    enc = encode_row(rp, row)
    assert "You are a helpful assistant." in tokenizer(rp).decode(enc["input_ids"])
    assert supervised_text(rp, enc) == "hi<|im_end|>yes<|im_end|>"


def test_video_grid(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path)
    enc = encode_row(rp, video_conversation(write_gif(tmp_path)), str(tmp_path))
    # 4 frames of 96x80 -> grid (t=2, h=6, w=6) -> 72 patches / 2x2 merge = 18 placeholder tokens
    assert unpack_tensors(enc["mm"])["video_grid_thw"].tolist() == [[2, 6, 6]]
    assert enc["input_ids"].count(tokenizer(rp).convert_tokens_to_ids("<|video_pad|>")) == 18
