"""Voxtral quirks: audio ids and features equal transformers' own path, mistral-common's rules, and
``system_message_policy`` for the system message v7 refuses beside audio (fold, drop, error).

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import logging

import torch
from family_checks import (
    audio_conversation,
    encode_row,
    row_processor,
    row_task,
    supervised_text,
    tokenizer,
    unpack_tensors,
)
from media_fixtures import make_wav, sine
from PIL import Image

from mmtune.conversation import Conversation


def test_ids_and_features_match_transformers(tiny_ckpt, tmp_path):
    a, b = sine(1.5, freq=440.0), sine(0.7, freq=220.0)  # in-memory arrays
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path)
    enc = encode_row(rp, audio_conversation(a, b))
    assert tokenizer(rp).convert_tokens_to_ids("[AUDIO]") == 24  # VoxtralProcessor hardcodes it
    features = unpack_tensors(enc["mm"])["input_features"]
    assert features.shape == (2, 128, 3000)  # each clip padded to 30 s
    # transformers' own Voxtral path gives the same ids and features for the same wav files
    wa, wb = make_wav(tmp_path / "a.wav", 1.5, freq=440.0), make_wav(tmp_path / "b.wav", 0.7, freq=220.0)
    row = audio_conversation(str(wa), str(wb))
    ours = encode_row(rp, row)
    ref = rp.processor.apply_chat_template(row["messages"])
    assert ours["input_ids"] == enc["input_ids"] == ref["input_ids"][0].tolist()
    torch.testing.assert_close(unpack_tensors(ours["mm"])["input_features"], ref["input_features"])


def _with_system(row: dict, text: str = "Be brief.") -> dict:
    return {"messages": [{"role": "system", "content": text}, *row["messages"]]}


def _first_question(row: dict, text: str) -> dict:
    """``row`` with the first user turn's text part replaced by ``text``."""
    first = dict(row["messages"][0])
    first["content"] = [p if p["type"] != "text" else {"type": "text", "text": text} for p in first["content"]]
    return {"messages": [first, *row["messages"][1:]]}


def _policy_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mmtune" and "system_message_policy" in r.getMessage()]


def test_system_with_audio_is_folded_into_the_first_user_turn(tiny_ckpt, tmp_path, caplog):
    """mistral-common v7 refuses a system message beside audio; by default (fold) its text opens the
    first user message's text, so the row trains, with the answers alone supervised."""
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path)
    row = audio_conversation(sine(0.5), sine(0.7, freq=220.0))
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        enc = encode_row(rp, _with_system(row))
        for _ in range(3):  # more such rows: still one warning
            encode_row(rp, _with_system(row, "Answer in one word."))
    folded = encode_row(rp, _first_question(row, "Be brief.\n\nWhich tone is higher?"))
    assert enc["input_ids"] == folded["input_ids"] and enc["labels"] == folded["labels"]
    assert supervised_text(rp, enc) == "the first</s>two</s>"
    text = tokenizer(rp).decode(enc["input_ids"], skip_special_tokens=False)
    first_turn = text[: text.index("[/INST]")]
    assert first_turn.startswith("<s>[INST][BEGIN_AUDIO]") and first_turn.endswith("Be brief.\n\nWhich tone is higher?")
    assert "[SYSTEM_PROMPT]" not in text
    (warning,) = _policy_warnings(caplog)
    assert warning == (
        "model family 'voxtral': mistral-common's v7 chat format takes no system message in a conversation with "
        "audio; system_message_policy: fold puts the system text at the start of the first user message's text, "
        "a blank line between (warned once, not per row)"
    )
    # generation sees the same text: the prompt of the first turn ends as the row's first turn does
    conv = rp.conversation(row_task(_with_system(row)))
    prompt = rp.transform.prompt(Conversation(conv.messages[:2]))["input_ids"][0].tolist()
    assert tokenizer(rp).decode(prompt) == first_turn + "[/INST]"
    assert len(_policy_warnings(caplog)) == 1


def test_system_with_audio_is_dropped(tiny_ckpt, tmp_path, caplog):
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path, system_message_policy="drop")
    row = audio_conversation(sine(0.5), sine(0.5))
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        enc = encode_row(rp, _with_system(row))
        encode_row(rp, _with_system(row))
    plain = encode_row(rp, row)
    assert (enc["input_ids"], enc["labels"]) == (plain["input_ids"], plain["labels"])
    assert "Be brief." not in tokenizer(rp).decode(enc["input_ids"])
    (warning,) = _policy_warnings(caplog)
    assert "system_message_policy: drop removes the system message" in warning


def test_system_with_audio_is_a_bad_row_under_error(tiny_ckpt, tmp_path, caplog):
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path, system_message_policy="error")
    row = _with_system(audio_conversation(sine(0.5), sine(0.5)))
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        err = rp(row_task(row, dataset="train.jsonl", index=7))
    assert str(err) == (
        "train.jsonl row 7: mistral-common's v7 chat format takes no system message in a conversation with audio "
        "(system_message_policy: error; 'fold' moves the system text into the first user message, 'drop' removes it)"
    )
    assert err.field == "messages[0]"
    assert not _policy_warnings(caplog)


def test_system_without_audio_stays_a_system_prompt(tiny_ckpt, tmp_path, caplog):
    """v7 takes a system message in a text-only conversation: no policy applies."""
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path, system_message_policy="error")
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "red"}]}
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        enc = encode_row(rp, _with_system(row))
    assert tokenizer(rp).decode(enc["input_ids"]) == "<s>[SYSTEM_PROMPT]Be brief.[/SYSTEM_PROMPT][INST]Hi[/INST]red</s>"
    assert not caplog.records


def test_image_is_refused(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path)
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (8, 8))}]},
            {"role": "assistant", "content": "no"},
        ]
    }
    assert str(rp(row_task(row, dataset="t.jsonl"))) == (
        "t.jsonl row 0: image input is not supported by model family 'voxtral' (it takes: audio)"
    )
