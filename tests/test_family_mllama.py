"""Mllama (Llama 3.2 Vision) quirks: the cross-attention mask, per row and padded per batch; the hub
template's dated system turn (``date_string``), which depends on whether the whole conversation has
an image, rendered message by message with exact labels.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import pytest
import torch
from family_checks import (
    encode_row,
    label_spans,
    one_media_conversation,
    row_processor,
    row_task,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)
from test_golden_templates import GOLDEN

from mmtune.errors import ConfigError
from mmtune.models.families import get_family
from mmtune.train.collator import Collator

HUB = (GOLDEN / "mllama.jinja").read_text(encoding="utf-8")
HEADER = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"


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
    batch = Collator(fam, tokenizer(rp).pad_token_id, rp.transform)(rows)
    model = fam.model_class().from_pretrained(tiny_ckpt("mllama"))
    inputs = fam.prepare_inputs(batch, model.dtype)
    assert inputs["cross_attention_mask"].shape[:2] == inputs["input_ids"].shape
    assert inputs["cross_attention_mask"][1].sum() == 0  # the text-only row sees no image
    assert torch.isfinite(model(**inputs).loss)


# -- the hub template's dated system turn ----------------------------------------------------------


def _hub(rp, messages: list[dict], add_generation_prompt: bool, date: str) -> str:
    """What the hub template renders through transformers (rows' parts carry only a type it reads)."""
    return tokenizer(rp).apply_chat_template(
        messages, chat_template=HUB, tokenize=False, add_generation_prompt=add_generation_prompt, date_string=date
    )


def _row_and_prompt(rp, row: dict, media_base: str) -> tuple[str, str]:
    """The decoded training row, and the decoded generation prompt for it without its last answer."""
    tok = tokenizer(rp)
    enc = encode_row(rp, row, media_base)
    conv = rp.conversation(row_task(row, media_base))
    conv.messages = conv.messages[:-1]
    prompt = rp.transform.prompt(conv)["input_ids"][0].tolist()
    assert enc["input_ids"][: len(prompt)] == prompt
    return tok.decode(enc["input_ids"]), tok.decode(prompt)


TEXT_ONLY = {"messages": [{"role": "user", "content": "Name a color."}, {"role": "assistant", "content": "blue"}]}


@pytest.mark.parametrize("kind", ["text_only", "image", "system_and_images"])
def test_rows_and_prompts_render_like_the_hub_template(tiny_ckpt, tmp_path, kind):
    a, b = write_two_images(tmp_path)
    row = {
        "text_only": TEXT_ONLY,
        "image": one_media_conversation("image", a, "What color is it?", "red"),
        "system_and_images": two_image_conversation(a, b),
    }[kind]
    rp = row_processor(tiny_ckpt("mllama"), tmp_path, date_string="03 Mar 2025")
    text, prompt = _row_and_prompt(rp, row, str(tmp_path))
    msgs = row["messages"]
    assert text == _hub(rp, msgs, False, "03 Mar 2025")
    assert prompt == _hub(rp, msgs[:-1], True, "03 Mar 2025")
    # the dated system turn: with a system message or without images, as the hub writes it
    assert text.startswith(HEADER + "Today Date: 03 Mar 2025\n\n") == (kind != "image")
    assert (
        supervised_text(rp, encode_row(rp, row, str(tmp_path)))
        == {
            "text_only": "blue<|eot_id|>",
            "image": "red<|eot_id|>",
            "system_and_images": "red and blue<|eot_id|>the red one<|eot_id|>",
        }[kind]
    )


def test_date_string_from_the_config_changes_the_header(tiny_ckpt, tmp_path):
    default = row_processor(tiny_ckpt("mllama"), tmp_path)
    assert default.s.template_vars == {"date_string": "26 Jul 2024"}
    assert (
        tokenizer(default)
        .decode(encode_row(default, TEXT_ONLY)["input_ids"])
        .startswith(HEADER + "Today Date: 26 Jul 2024\n\n<|eot_id|>")
    )
    dated = row_processor(tiny_ckpt("mllama"), tmp_path, date_string="01 Jan 2025")
    enc = encode_row(dated, TEXT_ONLY)
    assert tokenizer(dated).decode(enc["input_ids"]).startswith(HEADER + "Today Date: 01 Jan 2025\n\n<|eot_id|>")
    assert supervised_text(dated, enc) == "blue<|eot_id|>"


def test_date_string_is_refused_where_the_template_prints_no_date(tiny_ckpt, tmp_path):
    with pytest.raises(ConfigError, match="date_string: the chat template of model family 'llama4' has no such option"):
        row_processor(tiny_ckpt("llama4"), tmp_path, date_string="01 Jan 2025")


def _image_later(img: str, system: bool) -> dict:
    messages = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": [{"type": "image", "path": img}, {"type": "text", "text": "And this?"}]},
        {"role": "assistant", "content": "a red square"},
    ]
    return {"messages": ([{"role": "system", "content": "Be brief."}] if system else []) + messages}


@pytest.mark.parametrize("system", [False, True])
def test_image_only_in_a_later_turn_renders_message_by_message(tiny_ckpt, tmp_path, system):
    """A prefix before the image has no image, yet renders the system turn of the whole row."""
    a, _ = write_two_images(tmp_path)
    row = _image_later(a, system)
    rp = row_processor(tiny_ckpt("mllama"), tmp_path)
    text, prompt = _row_and_prompt(rp, row, str(tmp_path))
    assert text == _hub(rp, row["messages"], False, "26 Jul 2024")
    assert prompt == _hub(rp, row["messages"][:-1], True, "26 Jul 2024")
    assert ("Cutting Knowledge Date" in text) == system  # the hub's system turn: only with a system message
    enc = encode_row(rp, row, str(tmp_path))
    spans = [tokenizer(rp).decode(s) for s in label_spans(enc["labels"])]
    assert spans == ["Hi.<|eot_id|>", "a red square<|eot_id|>"]


def test_without_the_whole_conversations_vars_the_prefixes_would_disagree(tiny_ckpt, tmp_path, monkeypatch):
    """What ``conversation_vars`` is for: rendering each prefix alone, the first turn gets the dated
    system turn and the whole row (with its image) does not."""
    a, _ = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("mllama"), tmp_path)
    monkeypatch.setattr(get_family("mllama"), "conversation_vars", classmethod(lambda cls, conv: {}))
    with pytest.raises(ConfigError, match="does not render messages incrementally"):
        rp(row_task(_image_later(a, False), str(tmp_path)))


def test_trained_system_message_supervises_its_text_not_the_dated_header(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("mllama"), tmp_path, roles_to_train=["system", "assistant"])
    row = two_image_conversation(a, b)
    row["messages"][0]["content"] = "  Answer briefly.\n"  # the template trims it, as the hub's does
    enc = encode_row(rp, row, str(tmp_path))
    spans = [tokenizer(rp).decode(s) for s in label_spans(enc["labels"])]
    assert spans == ["Answer briefly.<|eot_id|>", "red and blue<|eot_id|>", "the red one<|eot_id|>"]
    assert (
        tokenizer(rp)
        .decode(enc["input_ids"])
        .startswith(HEADER + "Today Date: 26 Jul 2024\n\nAnswer briefly.<|eot_id|>")
    )


def test_system_message_of_several_text_parts_is_one_string(tiny_ckpt, tmp_path):
    """The hub template trims system content as a string (a typed list would print as its repr)."""
    fam = get_family("mllama")
    parts = [{"type": "text", "text": "Be brief. "}, {"type": "text", "text": "Be kind."}]
    assert fam.template_message("system", parts) == {"role": "system", "content": "Be brief. Be kind."}
    assert fam.template_message("user", parts) == {"role": "user", "content": parts}
    rp = row_processor(tiny_ckpt("mllama"), tmp_path)
    row = {"messages": [{"role": "system", "content": parts}, *TEXT_ONLY["messages"]]}
    text = tokenizer(rp).decode(encode_row(rp, row)["input_ids"])
    assert text.startswith(HEADER + "Today Date: 26 Jul 2024\n\nBe brief. Be kind.<|eot_id|>")
