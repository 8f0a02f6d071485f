"""SmolVLM2 on a tiny checkpoint: tiled images, timestamped video frames, the checkpoint's template."""

from __future__ import annotations

import shutil

import pytest
from family_checks import (
    check_example_config,
    encode_row,
    row_processor,
    supervised_text,
    train_and_reload,
    trainable_names,
    two_image_conversation,
    unpack_tensors,
    write_gif,
    write_two_images,
)
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmtune.data.intake import RowTask
from mmtune.errors import ConfigError
from mmtune.models.families import family_for_checkpoint, get_family

FAMILY = get_family("smolvlm2")
IMAGE_SIZES = ((120, 100), (50, 40))  # the first is split into 2x2 tiles + global


def _video_conversation(first: str, second: str) -> dict:
    """Two videos of different lengths in different turns."""
    return {
        "messages": [
            {"role": "user", "content": [{"type": "video", "path": first}, {"type": "text", "text": "Describe it."}]},
            {"role": "assistant", "content": "four colors"},
            {"role": "user", "content": [{"type": "video", "path": second}, {"type": "text", "text": "And this?"}]},
            {"role": "assistant", "content": "two colors"},
        ]
    }


def _supervised_ids(enc: dict) -> set[int]:
    return {t for t in enc["labels"] if t != -100}


def test_tiny_loads_with_auto_classes(tiny_ckpt):
    path = tiny_ckpt("smolvlm2")
    assert type(AutoProcessor.from_pretrained(path)).__name__ == "SmolVLMProcessor"
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert type(model).__name__ == "SmolVLMForConditionalGeneration"
    assert family_for_checkpoint(str(path)).id == "smolvlm2"
    assert {FAMILY.group_of(n) for n, _ in model.named_parameters()} == {"vision", "projector", "language"}


def test_labels_are_exactly_the_assistant_turns(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path, IMAGE_SIZES)
    rp = row_processor(tiny_ckpt("smolvlm2"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    # "Assistant:" is the generation prompt; the model writes " red and blue<end_of_utterance>"
    assert supervised_text(rp, enc) == " red and blue<end_of_utterance> the red one<end_of_utterance>"
    tok = rp.processor.tokenizer
    text = tok.decode(enc["input_ids"])
    assert text.startswith("<|im_start|>System: Answer briefly.<end_of_utterance>\nUser:<fake_token_around_image>")
    assert "<row_2_col_2>" in text and text.count("<global-img>") == 2
    media = {tok.convert_tokens_to_ids(t) for t in FAMILY.media_tokens}
    assert not media & _supervised_ids(enc)
    mm = unpack_tensors(enc["mm"])
    # each image is upscaled to 128 px and split into 2x2 tiles + a global tile: 5 tiles per image
    assert mm["pixel_values"].shape == (1, 10, 3, 64, 64)
    assert mm["pixel_attention_mask"].shape == (1, 10, 64, 64)


def test_video_rows_carry_real_timestamps(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("smolvlm2"), tmp_path)
    row = _video_conversation(write_gif(tmp_path, "four.gif", 4), write_gif(tmp_path, "two.gif", 2))
    enc = encode_row(rp, row, str(tmp_path))
    assert supervised_text(rp, enc) == " four colors<end_of_utterance> two colors<end_of_utterance>"
    text = rp.processor.tokenizer.decode(enc["input_ids"])
    # each clip names its own frame count and 2-fps timestamps (0.5 s apart -> 00:00, 00:01)
    assert "series of four frames from a 0:00:02 [H:MM:SS] video." in text
    assert "series of two frames from a 0:00:01 [H:MM:SS] video." in text
    assert text.count("\nFrame from 00:01:") == 2
    media = {rp.processor.tokenizer.convert_tokens_to_ids(t) for t in FAMILY.media_tokens}
    assert not media & _supervised_ids(enc)
    assert unpack_tensors(enc["mm"])["pixel_values"].shape == (1, 6, 3, 64, 64)


def test_checkpoint_template_without_video_branch(tiny_ckpt, tmp_path):
    """Older hub templates drop video parts; the family's template takes over for them."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt("smolvlm2"), ckpt)
    no_video = FAMILY.chat_template.replace("{%- elif p['type'] == 'video' -%}{{ '<video>' }}", "")
    assert "video" not in no_video
    (ckpt / "chat_template.jinja").write_text(no_video)
    rp = row_processor(ckpt, tmp_path)
    row = _video_conversation(write_gif(tmp_path, "four.gif", 4), write_gif(tmp_path, "two.gif", 2))
    enc = encode_row(rp, row, str(tmp_path))
    assert "series of two frames" in rp.processor.tokenizer.decode(enc["input_ids"])
    assert supervised_text(rp, enc) == " four colors<end_of_utterance> two colors<end_of_utterance>"


def test_images_and_video_in_one_row_are_refused(tiny_ckpt, tmp_path):
    a, _ = write_two_images(tmp_path, IMAGE_SIZES)
    rp = row_processor(tiny_ckpt("smolvlm2"), tmp_path)
    row = {"messages": [
        {"role": "user", "content": [
            {"type": "image", "path": a}, {"type": "video", "path": write_gif(tmp_path, "c.gif", 2)},
            {"type": "text", "text": "Same?"},
        ]},
        {"role": "assistant", "content": "no"},
    ]}
    err = rp(RowTask("test.jsonl", str(tmp_path), "chat_template", 3, row))
    assert "SmolVLM2 takes images or videos in one conversation, not both" in str(err)
    assert (err.dataset, err.row) == ("test.jsonl", 3)


def test_named_template_is_refused(tiny_ckpt, tmp_path):
    with pytest.raises(ConfigError, match="names that fit: tokenizer_default"):
        row_processor(tiny_ckpt("smolvlm2"), tmp_path, chat_template="chatml")


@pytest.mark.parametrize("adapter", ["lora", None])
def test_training_lowers_loss_and_output_reloads(tiny_ckpt, tmp_path, adapter):
    a, b = write_two_images(tmp_path, IMAGE_SIZES)
    video = _video_conversation(write_gif(tmp_path, "four.gif", 4), write_gif(tmp_path, "two.gif", 2))
    # every batch pairs an image row (10 tiles) with a video row (6 frames): tiles are zero-padded
    rows = [two_image_conversation(a, b), video] * 2
    result, pred = train_and_reload(tiny_ckpt("smolvlm2"), rows, tmp_path, adapter=adapter)
    trainable = trainable_names(result.model)
    if adapter:
        assert trainable and all("lora_" in n and ".text_model." in n for n in trainable)
    else:
        assert not any(".vision_model." in n for n in trainable)
        assert any(".connector." in n for n in trainable) and any(".text_model." in n for n in trainable)
    assert isinstance(pred.generate("What colors are these?", images=[str(tmp_path / a)], max_new_tokens=4), str)
    assert isinstance(pred.generate("Describe it.", videos=[str(tmp_path / "two.gif")], max_new_tokens=3), str)


def test_example_config_is_valid():
    cfg = check_example_config("smolvlm2")
    assert cfg.chat_template is None
