"""Gemma 3 quirks: token type ids mark the image tokens; a system message of several text parts.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

from pathlib import Path

from family_checks import (
    encode_row,
    row_processor,
    row_task,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)
from transformers.utils.chat_template_utils import _compile_jinja_template

from mmtune.errors import DataError
from mmtune.models.families import get_family

GOLDEN = Path(__file__).parent / "golden" / "templates"


def test_token_type_ids_mark_image_tokens(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("gemma3"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b, last_as_parts=True), str(tmp_path))
    tt = unpack_tensors(enc["mm"])["token_type_ids"][0].tolist()
    soft = tokenizer(rp).convert_tokens_to_ids("<image_soft_token>")
    assert tt == [int(t == soft) for t in enc["input_ids"]]
    assert sum(tt) == 8  # 2 images x 4 tokens


# A system message of two text parts with edge whitespace, and user / model text with edge whitespace.
SYSTEM_PARTS_ROW = {
    "messages": [
        {
            "role": "system",
            "content": [{"type": "text", "text": "  Be brief."}, {"type": "text", "text": "Be kind.\n"}],
        },
        {"role": "user", "content": " Hi "},
        {"role": "assistant", "content": "red \n"},
    ]
}


def test_system_message_keeps_all_its_text_parts_untrimmed(tiny_ckpt, tmp_path):
    """Every system text part reaches the row, joined by a blank line and untrimmed (the hub keeps its
    one system part untrimmed); user and model text are trimmed, as the hub trims them."""
    rp = row_processor(tiny_ckpt("gemma3"), tmp_path)
    enc = encode_row(rp, SYSTEM_PARTS_ROW)
    assert tokenizer(rp).decode(enc["input_ids"]) == (
        "<bos><start_of_turn>user\n  Be brief.\n\nBe kind.\n\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nred<end_of_turn>\n"
    )
    assert supervised_text(rp, enc) == "red<end_of_turn>"


def test_hub_template_sees_the_whole_system_message():
    """The hub template reads only the first system text part; the family hands it one part holding
    all the text, so a checkpoint's own template (``chat_template`` left out) drops nothing either."""
    fam = get_family("gemma3")
    msgs = [fam.template_message(m["role"], m["content"]) for m in SYSTEM_PARTS_ROW["messages"][:1]]
    assert msgs == [{"role": "system", "content": [{"type": "text", "text": "  Be brief.\n\nBe kind.\n"}]}]
    hub = (GOLDEN / "gemma3.jinja").read_text(encoding="utf-8")
    user = fam.template_message("user", [{"type": "text", "text": "Hi"}])
    rendered = _compile_jinja_template(hub).render(messages=[*msgs, user], bos_token="<bos>")
    assert rendered == "<bos><start_of_turn>user\n  Be brief.\n\nBe kind.\n\n\nHi<end_of_turn>\n"


def test_media_in_a_system_message_is_refused(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("gemma3"), tmp_path)
    a, _ = write_two_images(tmp_path)
    row = {
        "messages": [
            {"role": "system", "content": [{"type": "image", "path": a}, {"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "red"},
        ]
    }
    out = rp(row_task(row, str(tmp_path)))
    assert isinstance(out, DataError) and "a Gemma 3 system message takes only text (found image)" in str(out)
