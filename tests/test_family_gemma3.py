"""Gemma 3 quirks: token type ids mark the image tokens.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

from family_checks import (
    encode_row,
    row_processor,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)


def test_token_type_ids_mark_image_tokens(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("gemma3"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    tt = unpack_tensors(enc["mm"])["token_type_ids"][0].tolist()
    soft = tokenizer(rp).convert_tokens_to_ids("<image_soft_token>")
    assert tt == [int(t == soft) for t in enc["input_ids"]]
    assert sum(tt) == 8  # 2 images x 4 tokens
