"""Gemma 3n on a tiny checkpoint: image and audio rows, Gemma turns, range-based token layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from family_checks import (
    check_example_config,
    encode_row,
    row_processor,
    supervised_text,
    train_and_reload,
    trainable_names,
    unpack_tensors,
)
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmtune.models.families import family_for_checkpoint, get_family

FAMILY = get_family("gemma3n")


def _tone(path: Path, seconds: float, hz: float = 440.0, rate: int = 16_000) -> str:
    t = np.arange(int(rate * seconds)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)
    return path.name


def _media(tmp_path: Path) -> tuple[str, str, str]:
    Image.new("RGB", (90, 70), "red").save(tmp_path / "red.png")
    # a 22.05 kHz file: decoded and resampled to the feature extractor's 16 kHz
    return "red.png", _tone(tmp_path / "beep.wav", 1.5, rate=22_050), _tone(tmp_path / "hum.wav", 0.6, 220.0)


def _conversation(img: str, beep: str, hum: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": [
                {"type": "image", "path": img}, {"type": "audio", "path": beep},
                {"type": "text", "text": "What do you see and hear?"},
            ]},
            {"role": "assistant", "content": "red and a beep"},
            {"role": "user", "content": [{"type": "audio", "path": hum}, {"type": "text", "text": "And now?"}]},
            {"role": "assistant", "content": "a hum"},
        ]
    }


def _audio_only(hum: str) -> dict:
    return {"messages": [
        {"role": "user", "content": [{"type": "audio", "path": hum}, {"type": "text", "text": "What is it?"}]},
        {"role": "assistant", "content": "a hum"},
    ]}


def test_tiny_loads_with_auto_classes(tiny_ckpt):
    path = tiny_ckpt("gemma3n")
    proc = AutoProcessor.from_pretrained(path)
    assert type(proc).__name__ == "Gemma3nProcessor"
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert type(model).__name__ == "Gemma3nForConditionalGeneration"
    assert family_for_checkpoint(str(path)).id == "gemma3n"
    assert {FAMILY.group_of(n) for n, _ in model.named_parameters()} == {"vision", "projector", "language"}
    # text ids, then the image block, then the audio block, which ends the vocabulary
    cfg, tok = model.config, proc.tokenizer
    text_vocab = cfg.text_config.vocab_size_per_layer_input
    assert cfg.vision_config.vocab_offset == text_vocab == tok.convert_tokens_to_ids("<end_of_image>")
    assert cfg.audio_config.vocab_offset == tok.convert_tokens_to_ids("<end_of_audio>")
    assert cfg.audio_config.vocab_offset + cfg.audio_config.vocab_size == cfg.text_config.vocab_size == len(tok)


def test_labels_are_exactly_the_assistant_turns(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("gemma3n"), tmp_path)
    enc = encode_row(rp, _conversation(*_media(tmp_path)), str(tmp_path))
    assert supervised_text(rp, enc) == "red and a beep<end_of_turn>a hum<end_of_turn>"
    tok = rp.processor.tokenizer
    text = tok.decode(enc["input_ids"])
    # the system prompt opens the first user turn; the model's turns are "model"
    assert text.startswith("<bos><start_of_turn>user\nAnswer briefly.\n\n\n\n<start_of_image>")
    assert "<end_of_turn>\n<start_of_turn>model\nred and a beep<end_of_turn>\n" in text
    audio_id = tok.convert_tokens_to_ids("<audio_soft_token>")
    assert enc["input_ids"].count(audio_id) == 2 * 188  # a fixed 188 tokens per clip
    media = {tok.convert_tokens_to_ids(t) for t in FAMILY.media_tokens}
    assert not media & {t for t in enc["labels"] if t != -100}
    mm = unpack_tensors(enc["mm"])
    assert mm["pixel_values"].shape == (1, 3, 64, 64)
    assert mm["input_features"].shape[0] == mm["input_features_mask"].shape[0] == 2
    # token types mark the image (1) and audio (3) soft tokens for the model
    types = mm["token_type_ids"][0]
    assert int((types == 3).sum()) == 2 * 188 and int((types == 1).sum()) == 4


def test_train_on_inputs_still_masks_media(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("gemma3n"), tmp_path, train_on_inputs=True)
    enc = encode_row(rp, _conversation(*_media(tmp_path)), str(tmp_path))
    text = supervised_text(rp, enc)
    assert "What do you see and hear?" in text and "Answer briefly." in text
    assert "<audio_soft_token>" not in text and "<start_of_image>" not in text and "<end_of_audio>" not in text


def test_clip_over_30_seconds_is_cut_not_crashing(tiny_ckpt, tmp_path):
    path = tiny_ckpt("gemma3n")
    rp = row_processor(path, tmp_path)
    long = _tone(tmp_path / "long.wav", 31.0)
    enc = encode_row(rp, _audio_only(long), str(tmp_path))
    mm = unpack_tensors(enc["mm"])
    assert mm["input_features"].shape[1] <= 3000  # 30 s of 10 ms frames
    model = AutoModelForImageTextToText.from_pretrained(path)
    ids = torch.tensor([enc["input_ids"]])
    out = model(input_ids=ids, labels=torch.tensor([enc["labels"]]), **mm)
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("adapter", ["lora", None])
def test_training_lowers_loss_and_output_reloads(tiny_ckpt, tmp_path, adapter):
    img, beep, hum = _media(tmp_path)
    # image+audio rows batched with audio-only rows: clips of different lengths are padded
    rows = [_conversation(img, beep, hum), _audio_only(hum)] * 2
    result, pred = train_and_reload(tiny_ckpt("gemma3n"), rows, tmp_path, adapter=adapter, max_steps=10)
    trainable = trainable_names(result.model)
    if adapter:
        assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    else:  # both encoders frozen, embedders (projectors) and the LM train
        assert not any(".vision_tower." in n or ".audio_tower." in n for n in trainable)
        assert any(".embed_audio." in n for n in trainable) and any("language_model" in n for n in trainable)
    assert isinstance(pred.generate("What is it?", images=[str(tmp_path / img)], max_new_tokens=3), str)
    assert isinstance(pred.generate("What is it?", audio=[str(tmp_path / hum)], max_new_tokens=3), str)


def test_example_config_is_valid():
    cfg = check_example_config("gemma3n")
    assert cfg.chat_template in FAMILY.template_names
