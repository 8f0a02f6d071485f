"""Ministral 3 quirks: a ``mistral3`` checkpoint told apart by its language model (``text_config``),
chats encoded by mistral-common from a (shrunk, real) tekken v13 file, checked against transformers'
own mistral-common path; reasoning as [THINK] tokens; the once-per-run note about the shipped system
prompt.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import json
import logging

import pytest
import torch
from family_checks import (
    assert_one_img_token_per_cell,
    encode_row,
    media_ids,
    row_processor,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)

from mmtune.models.families import family_for_checkpoint


@pytest.mark.parametrize(
    ("text_type", "family_id"),
    [
        ("ministral3", "ministral3"),
        ("mistral4", "mistral4"),
        ("mistral", "mistral_small_3_1"),
        (None, "mistral_small_3_1"),
    ],
)
def test_mistral3_checkpoints_resolve_by_their_language_model(tmp_path, text_type, family_id):
    """Mistral-Small-3.1 / Magistral (text ``mistral``), Ministral 3 and Mistral Medium 3.5 (``ministral3``),
    Mistral Small 4 (``mistral4``): one ``model_type``, told apart by ``text_config.model_type``."""
    cfg: dict = {"model_type": "mistral3", "vision_config": {"model_type": "pixtral"}}
    if text_type:
        cfg["text_config"] = {"model_type": text_type}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert family_for_checkpoint(str(tmp_path)).id == family_id


def test_encoding_matches_transformers(tiny_ckpt, tmp_path):
    """Our per-message encoding equals MistralCommonBackend.apply_chat_template, pixels included."""
    a, b = write_two_images(tmp_path)
    row = two_image_conversation(a, b)
    rp = row_processor(tiny_ckpt("ministral3"), tmp_path)
    enc = encode_row(rp, row, str(tmp_path))
    msgs = json.loads(json.dumps(row["messages"]))
    for p in msgs[1]["content"]:
        if p["type"] == "image":
            p["path"] = str(tmp_path / p["path"])
    ref = tokenizer(rp).apply_chat_template(msgs, tokenize=True, return_dict=True)
    assert enc["input_ids"] == ref["input_ids"]
    tensors = unpack_tensors(enc["mm"])
    for k, (h, w) in enumerate(tensors["image_sizes"].tolist()):
        assert ref["image_sizes"][k] == [h, w]
        torch.testing.assert_close(tensors["pixel_values"][k, :, :h, :w], torch.from_numpy(ref["pixel_values"][k]))
    assert_one_img_token_per_cell(rp, enc, 28)


def test_reasoning_becomes_thinking_tokens(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    row = two_image_conversation(a, b, last="[THINK]the red one is left[/THINK]the red one")
    rp = row_processor(tiny_ckpt("ministral3"), tmp_path)
    enc = encode_row(rp, row, str(tmp_path))
    assert supervised_text(rp, enc) == "red and blue</s>[THINK]the red one is left[/THINK]the red one</s>"
    assert media_ids(rp, ("[THINK]", "[/THINK]")) <= set(enc["labels"])


def test_rows_without_system_warn_once_about_the_shipped_system_prompt(tiny_ckpt, tmp_path, caplog):
    rp = row_processor(tiny_ckpt("ministral3"), tmp_path)
    bare = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "red"}]}
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        encode_row(rp, bare)
        encode_row(rp, bare)
    warnings = [r.getMessage() for r in caplog.records if "without a system message" in r.getMessage()]
    assert len(warnings) == 1 and "SYSTEM_PROMPT.txt" in warnings[0]
