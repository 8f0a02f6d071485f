"""LLaVA 1.5 quirks: a SentencePiece-style tokenizer that prepends "▁" like Llama's.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

from family_checks import (
    encode_row,
    row_processor,
    supervised_text,
    tokenizer,
    two_image_conversation,
    write_two_images,
)


def test_tokenizer_prepends_like_llama_and_labels_still_line_up(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("llava"), tmp_path, train_on_inputs=True)
    tok = tokenizer(rp)
    # The real Llama tokenizer adds "▁" to a text that starts a sequence, not after a special token.
    alone = tok.convert_ids_to_tokens(tok("USER: hi", add_special_tokens=False)["input_ids"])
    after = tok.convert_ids_to_tokens(tok("</s>USER: hi", add_special_tokens=False)["input_ids"])
    assert alone[0] == "\u2581" and after[1] != "\u2581"
    a, b = write_two_images(tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    assert supervised_text(rp, enc) == (
        "<s>Answer briefly. USER: \n\nWhat colors are these? ASSISTANT: red and blue</s>"
        "USER: Which one is first? ASSISTANT: the red one</s>"
    )
