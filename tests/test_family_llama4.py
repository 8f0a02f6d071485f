"""Llama 4 quirks: the system message, trimmed and kept whole as the hub template prints it.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

from family_checks import encode_row, label_spans, row_processor, tokenizer
from test_golden_templates import GOLDEN

from mmtune.models.families import get_family

HUB = (GOLDEN / "llama4.jinja").read_text(encoding="utf-8")
PARTS = [{"type": "text", "text": "  Answer briefly. "}, {"type": "text", "text": "Be kind.\n"}]


def test_system_parts_become_one_text_part():
    """The hub keeps only the first text part of typed system content: mmtune passes one, built from all."""
    fam = get_family("llama4")
    joined = [{"type": "text", "text": "  Answer briefly. Be kind.\n"}]
    assert fam.template_message("system", PARTS) == {"role": "system", "content": joined}
    assert fam.template_message("user", PARTS) == {"role": "user", "content": PARTS}


def test_trained_system_message_is_trimmed_and_whole(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("llama4"), tmp_path, roles_to_train=["system", "assistant"])
    messages = [
        {"role": "system", "content": PARTS},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "red"},
    ]
    enc = encode_row(rp, {"messages": messages})
    tok = tokenizer(rp)
    text = tok.decode(enc["input_ids"])
    assert text.startswith("<|begin_of_text|><|header_start|>system<|header_end|>\n\nAnswer briefly. Be kind.<|eot|>")
    assert [tok.decode(s) for s in label_spans(enc["labels"])] == ["Answer briefly. Be kind.<|eot|>", "red<|eot|>"]
    # the hub template renders the same row from the messages mmtune gives a template
    hub_msgs = [get_family("llama4").template_message("system", PARTS), *messages[1:]]
    assert text == tok.apply_chat_template(hub_msgs, chat_template=HUB, tokenize=False)
