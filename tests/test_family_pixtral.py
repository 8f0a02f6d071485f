"""Pixtral quirks: the Jinja template + PixtralProcessor path, one [IMG] per 16 px patch.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

from family_checks import (
    assert_one_img_token_per_cell,
    encode_row,
    row_processor,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)


def test_one_image_token_per_patch(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("pixtral"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    assert unpack_tensors(enc["mm"])["pixel_values"].shape[0] == 2
    assert_one_img_token_per_cell(rp, enc, 16)
