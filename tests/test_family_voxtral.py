"""Voxtral quirks: audio ids and features equal transformers' own path, mistral-common's rules.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import torch
from family_checks import audio_conversation, encode_row, row_processor, row_task, tokenizer, unpack_tensors
from media_fixtures import make_wav, sine
from PIL import Image


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


def test_system_turn_with_audio_is_a_data_error(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("voxtral"), tmp_path)
    row = audio_conversation(sine(0.5), sine(0.5))
    row["messages"].insert(0, {"role": "system", "content": "Be brief."})
    err = rp(row_task(row, dataset="train.jsonl", index=7))
    assert str(err) == (
        "train.jsonl row 7: mistral-common rejected this conversation: Found system messages at indexes [0] and "
        "audio chunks in messages at indexes [1]. This is not allowed prior to the tokenizer version 13."
    )


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
