"""Mistral-Small-3.1 quirks: chats encoded by mistral-common from a (shrunk, real) tekken.json, as
the hub checkpoint does, checked against transformers' own mistral-common path; the HF-format
copy without tekken.json; one [IMG] per 2x2 merged 14 px patches; the one warning that rows without
a system message train without the default system prompt the hub's Jinja template adds.

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
    row_processor,
    supervised_text,
    tokenizer,
    two_image_conversation,
    unpack_tensors,
    write_two_images,
)

from mmtune.conversation import Conversation, Message, TextPart
from mmtune.errors import ConfigError
from mmtune.models.families import get_family


def test_one_image_token_per_merged_patches(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("mistral_small_3_1"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    assert unpack_tensors(enc["mm"])["pixel_values"].shape[0] == 2
    assert_one_img_token_per_cell(rp, enc, 28)


def test_encoding_matches_transformers(tiny_ckpt, tmp_path):
    """Our per-message encoding equals MistralCommonBackend.apply_chat_template, pixels included."""
    a, b = write_two_images(tmp_path)
    row = two_image_conversation(a, b)
    rp = row_processor(tiny_ckpt("mistral_small_3_1"), tmp_path)
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


def test_without_tekken_uses_the_template_with_the_same_layout(tiny_ckpt, tmp_path):
    """An HF-format copy (tokenizer.json, no tekken.json) goes through the v7 Jinja template and
    PixtralProcessor, and lays the row out exactly as mistral-common does."""
    from mmtune.tiny.tekken import V7_SPECIALS
    from mmtune.tiny.tokenizer import train_tokenizer

    src = tiny_ckpt("mistral_small_3_1")
    hf = tmp_path / "hf"
    hf.mkdir()
    for f in ("config.json", "processor_config.json"):
        (hf / f).write_bytes((src / f).read_bytes())
    fam = get_family("mistral_small_3_1")
    specials = [V7_SPECIALS[i] for i in sorted(V7_SPECIALS)]
    train_tokenizer(
        specials, bos="<s>", eos="</s>", pad="<pad>", unk="<unk>", chat_template=fam.chat_template
    ).save_pretrained(hf)
    a, b = write_two_images(tmp_path)
    rp_hf = row_processor(hf, tmp_path / "hf_run")
    assert type(tokenizer(rp_hf)).__name__ == "TokenizersBackend"
    enc_hf = encode_row(rp_hf, two_image_conversation(a, b), str(tmp_path))
    assert supervised_text(rp_hf, enc_hf) == "red and blue</s>the red one</s>"
    rp_mc = row_processor(src, tmp_path / "mc_run")
    enc_mc = encode_row(rp_mc, two_image_conversation(a, b), str(tmp_path))
    text = tokenizer(rp_hf).decode(enc_hf["input_ids"], skip_special_tokens=False)
    assert text == tokenizer(rp_mc).decode(enc_mc["input_ids"])
    assert text.startswith("<s>[SYSTEM_PROMPT]Answer briefly.[/SYSTEM_PROMPT][INST][IMG][IMG][IMG][IMG][IMG_BREAK]")


def test_custom_template_is_refused(tiny_ckpt, tmp_path):
    with pytest.raises(ConfigError, match="encodes chats with the checkpoint's mistral-common tokenizer"):
        row_processor(tiny_ckpt("mistral_small_3_1"), tmp_path, chat_template_jinja="{{ messages }}")


def _missing_system_warnings(caplog) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "mmtune" and "without a system message" in r.getMessage()
    ]


def test_rows_without_system_warn_once_about_the_hub_template(tiny_ckpt, tmp_path, caplog):
    """mistral-common adds no default system prompt, the hub's Jinja template does: one warning per run
    (not per row) names the difference and the inference path that matches training."""
    rp = row_processor(tiny_ckpt("mistral_small_3_1"), tmp_path)
    bare = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "red"}]}
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        for _ in range(3):
            enc = encode_row(rp, bare)
    assert tokenizer(rp).decode(enc["input_ids"]) == "<s>[INST]Hi[/INST]red</s>"  # no default system prompt
    (warning,) = _missing_system_warnings(caplog)
    assert warning.startswith("model family 'mistral_small_3_1', rows without a system message: ")
    assert "adds Mistral's default system prompt" in warning and "tokenizer_mode=mistral" in warning


def test_rows_with_system_and_prompts_do_not_warn(tiny_ckpt, tmp_path, caplog):
    a, b = write_two_images(tmp_path)
    rp = row_processor(tiny_ckpt("mistral_small_3_1"), tmp_path)
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        encode_row(rp, two_image_conversation(a, b), str(tmp_path))
        rp.transform.prompt(Conversation([Message("user", [TextPart("Hi")])]))
    assert not _missing_system_warnings(caplog)
