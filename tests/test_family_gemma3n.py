"""Gemma 3n quirks: its vocabulary ranges, image and audio in one row, clips over 30 seconds, a system
message of several text parts.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import torch
from family_checks import (
    encode_row,
    image_audio_conversation,
    media_ids,
    one_media_conversation,
    row_processor,
    supervised_ids,
    supervised_text,
    tokenizer,
    unpack_tensors,
    write_image_and_tones,
    write_tone,
)
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmtune.models.families import get_family


def test_vocabulary_ranges(tiny_ckpt):
    """Text ids, then the image block, then the audio block, which ends the vocabulary."""
    path = tiny_ckpt("gemma3n")
    tok = AutoProcessor.from_pretrained(path).tokenizer
    cfg = AutoModelForImageTextToText.from_pretrained(path).config
    text_vocab = cfg.text_config.vocab_size_per_layer_input
    assert cfg.vision_config.vocab_offset == text_vocab == tok.convert_tokens_to_ids("<end_of_image>")
    assert cfg.audio_config.vocab_offset == tok.convert_tokens_to_ids("<end_of_audio>")
    assert cfg.audio_config.vocab_offset + cfg.audio_config.vocab_size == cfg.text_config.vocab_size == len(tok)


def test_image_and_audio_row(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("gemma3n"), tmp_path)
    enc = encode_row(rp, image_audio_conversation(*write_image_and_tones(tmp_path)), str(tmp_path))
    assert supervised_text(rp, enc) == "red and a beep<end_of_turn>a hum<end_of_turn>"
    tok = tokenizer(rp)
    text = tok.decode(enc["input_ids"])
    # the system prompt opens the first user turn; the model's turns are "model"
    assert text.startswith("<bos><start_of_turn>user\nAnswer briefly.\n\n\n\n<start_of_image>")
    assert "<end_of_turn>\n<start_of_turn>model\nred and a beep<end_of_turn>\n" in text
    assert enc["input_ids"].count(tok.convert_tokens_to_ids("<audio_soft_token>")) == 2 * 188  # a fixed 188 per clip
    assert not media_ids(rp) & supervised_ids(enc)
    mm = unpack_tensors(enc["mm"])
    assert mm["pixel_values"].shape == (1, 3, 64, 64)
    assert mm["input_features"].shape[0] == mm["input_features_mask"].shape[0] == 2
    # token types mark the image (1) and audio (3) soft tokens for the model
    types = mm["token_type_ids"][0]
    assert int((types == 3).sum()) == 2 * 188 and int((types == 1).sum()) == 4


def test_train_on_inputs_still_masks_image_and_audio(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("gemma3n"), tmp_path, train_on_inputs=True)
    enc = encode_row(rp, image_audio_conversation(*write_image_and_tones(tmp_path)), str(tmp_path))
    text = supervised_text(rp, enc)
    assert "What do you see and hear?" in text and "Answer briefly." in text
    assert "<audio_soft_token>" not in text and "<start_of_image>" not in text and "<end_of_audio>" not in text


def test_clip_over_30_seconds_is_cut_not_crashing(tiny_ckpt, tmp_path):
    path = tiny_ckpt("gemma3n")
    rp = row_processor(path, tmp_path)
    long = write_tone(tmp_path / "long.wav", 31.0)
    enc = encode_row(rp, one_media_conversation("audio", long, "What is it?", "a hum"), str(tmp_path))
    mm = unpack_tensors(enc["mm"])
    assert mm["input_features"].shape[1] <= 3000  # 30 s of 10 ms frames
    model = AutoModelForImageTextToText.from_pretrained(path)
    ids = torch.tensor([enc["input_ids"]])
    out = model(input_ids=ids, labels=torch.tensor([enc["labels"]]), **mm)
    assert torch.isfinite(out.loss)


def test_system_message_keeps_all_its_text_parts_untrimmed(tiny_ckpt, tmp_path):
    """Every system text part reaches the row, joined by a blank line and untrimmed, as one part (the
    hub template reads only the first part and keeps it untrimmed); user and model text are trimmed."""
    fam = get_family("gemma3n")
    parts = [{"type": "text", "text": "  Be brief."}, {"type": "text", "text": "Be kind.\n"}]
    one = [{"type": "text", "text": "  Be brief.\n\nBe kind.\n"}]
    assert fam.template_message("system", parts) == {"role": "system", "content": one}
    rp = row_processor(tiny_ckpt("gemma3n"), tmp_path)
    row = {
        "messages": [
            {"role": "system", "content": parts},
            {"role": "user", "content": " Hi "},
            {"role": "assistant", "content": "red \n"},
        ]
    }
    enc = encode_row(rp, row)
    assert tokenizer(rp).decode(enc["input_ids"]) == (
        "<bos><start_of_turn>user\n  Be brief.\n\nBe kind.\n\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nred<end_of_turn>\n"
    )
    assert supervised_text(rp, enc) == "red<end_of_turn>"
