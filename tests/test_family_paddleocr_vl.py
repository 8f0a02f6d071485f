"""PaddleOCR-VL quirks: images go before the texts of their message, flattened 14 px patches with
``image_grid_thw``, and the hub's own chat template (the checkpoint's, no ``chat_template`` set) labels
rows exactly as mmtune's.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from family_checks import (
    encode_row,
    one_media_conversation,
    row_processor,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)

GOLDEN = Path(__file__).parent / "golden" / "templates" / "paddleocr_vl.jinja"


def _question_before_image(path: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "OCR:"}, {"type": "image", "path": path}]},
            {"role": "assistant", "content": "red"},
        ]
    }


def test_images_go_before_the_text(tiny_ckpt, tmp_path):
    """The hub template writes a message's images first; a trained user turn still labels only its text."""
    a, _ = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("paddleocr_vl"), tmp_path, roles_to_train=["user", "assistant"])
    enc = encode_row(rp, _question_before_image(a), str(tmp_path))
    text = tokenizer(rp).decode(enc["input_ids"])
    assert text.startswith("<|begin_of_sentence|>User: <|IMAGE_START|><|IMAGE_PLACEHOLDER|>")
    assert text.endswith("<|IMAGE_END|>OCR:\nAssistant:\nred</s>")
    assert supervised_text(rp, enc) == "OCR:\nred</s>"


def test_flattened_patches_and_token_types(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("paddleocr_vl"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    mm = unpack_tensors(enc["mm"])
    # 90x70 -> 84x56 px -> 6x4 patches of 14 px; 60x100 -> 56x112 -> 4x8; one token per 2x2 patches
    assert mm["image_grid_thw"].tolist() == [[1, 4, 6], [1, 8, 4]]
    assert tuple(mm["pixel_values"].shape) == (24 + 32, 3, 14, 14)
    placeholder = tokenizer(rp).convert_tokens_to_ids("<|IMAGE_PLACEHOLDER|>")
    types = mm["mm_token_type_ids"][0].tolist()
    assert [i for i, t in zip(enc["input_ids"], types) if t] == [placeholder] * 14


def test_hub_template_labels_rows_like_mmtunes(tiny_ckpt, tmp_path):
    """A copy of the tiny checkpoint carrying the hub's chat_template.jinja (tests/golden/templates/):
    with no `chat_template` set, rows encode and label exactly as with `chat_template: paddleocr_vl`."""
    hub = tmp_path / "hub"
    shutil.copytree(tiny_ckpt("paddleocr_vl"), hub)
    (hub / "chat_template.jinja").write_text(GOLDEN.read_text())
    a, b = write_two_images(tmp_path)
    rows = [two_image_conversation(a, b), one_media_conversation("image", b, "OCR:", "blue")]
    own = row_processor(hub, tmp_path / "own")
    ours = row_processor(hub, tmp_path / "ours", chat_template="paddleocr_vl")
    assert own.transform.renderer.template != ours.transform.renderer.template
    for row in rows:
        x, y = encode_row(own, row, str(tmp_path)), encode_row(ours, row, str(tmp_path))
        assert (x["input_ids"], x["labels"]) == (y["input_ids"], y["labels"])
