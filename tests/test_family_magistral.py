"""Magistral quirks: reasoning becomes [THINK] tokens (its tekken has them; Mistral-Small-3.1's has not).

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import logging

from family_checks import (
    assert_one_img_token_per_cell,
    encode_row,
    media_ids,
    row_processor,
    supervised_text,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)


def test_reasoning_becomes_thinking_tokens(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    row = two_image_conversation(a, b, last="[THINK]the red one is left[/THINK]the red one")
    rp = row_processor(tiny_ckpt("magistral"), tmp_path)
    enc = encode_row(rp, row, str(tmp_path))
    assert supervised_text(rp, enc) == "red and blue</s>[THINK]the red one is left[/THINK]the red one</s>"
    assert media_ids(rp, ("[THINK]", "[/THINK]")) <= set(enc["labels"])
    # Mistral-Small-3.1's v7 tekken has no thinking tokens: the same answer stays plain text
    rp31 = row_processor(tiny_ckpt("mistral_small_3_1"), tmp_path / "v7")
    enc31 = encode_row(rp31, row, str(tmp_path))
    assert supervised_text(rp31, enc31) == supervised_text(rp, enc)
    assert not {34, 35} & set(enc31["input_ids"])


def test_one_image_token_per_merged_patches(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("magistral"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    assert unpack_tensors(enc["mm"])["pixel_values"].shape[0] == 2
    assert_one_img_token_per_cell(rp, enc, 28)


def test_rows_without_system_warn_once(tiny_ckpt, tmp_path, caplog):
    """Magistral encodes as Mistral-Small-3.1 does: the same once-per-run warning about the hub template."""
    rp = row_processor(tiny_ckpt("magistral"), tmp_path)
    bare = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "red"}]}
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        encode_row(rp, bare)
        encode_row(rp, bare)
    warnings = [r.getMessage() for r in caplog.records if "without a system message" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("model family 'magistral', ")
