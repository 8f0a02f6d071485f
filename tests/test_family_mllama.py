"""Mllama (Llama 3.2 Vision) quirks: the cross-attention mask, per row and padded per batch.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import torch
from family_checks import (
    encode_row,
    one_media_conversation,
    row_processor,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)

from mmtune.models.families import get_family
from mmtune.train.collator import Collator


def test_cross_attention_inputs_cover_both_images(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("mllama"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    mm = unpack_tensors(enc["mm"])
    n = len(enc["input_ids"])
    assert mm["cross_attention_mask"].shape == (1, n, 2, 4)
    assert mm["pixel_values"].shape[:2] == (1, 2)
    first = enc["input_ids"].index(tokenizer(rp).convert_tokens_to_ids("<|image|>"))
    # text before the first image sees no image; the answers see both
    assert mm["cross_attention_mask"][0, :first].sum() == 0
    assert mm["cross_attention_mask"][0, -1, :, 0].tolist() == [1, 1]


def test_batch_whose_longest_row_has_no_image(tiny_ckpt, tmp_path):
    a, _ = write_two_images(tmp_path)
    fam = get_family("mllama")
    rp = row_processor(tiny_ckpt("mllama"), tmp_path)
    long_text = {
        "messages": [
            {"role": "user", "content": "Name a color, any color at all, please tell me one."},
            {"role": "assistant", "content": "blue"},
        ]
    }
    rows = [
        encode_row(rp, one_media_conversation("image", a, "What color is it?", "red"), str(tmp_path)),
        encode_row(rp, long_text),
    ]
    assert len(rows[1]["input_ids"]) > len(rows[0]["input_ids"])
    batch = Collator(fam, tokenizer(rp).pad_token_id)(rows)
    model = fam.model_class().from_pretrained(tiny_ckpt("mllama"))
    inputs = fam.prepare_inputs(batch, model.dtype)
    assert inputs["cross_attention_mask"].shape[:2] == inputs["input_ids"].shape
    assert inputs["cross_attention_mask"][1].sum() == 0  # the text-only row sees no image
    assert torch.isfinite(model(**inputs).loss)
