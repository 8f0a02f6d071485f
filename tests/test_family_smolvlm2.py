"""SmolVLM2 quirks: image tiles, timestamped video frames, the checkpoint's template, no images with video.

Everything every family checks (loading, chat format, labels, training, predict) is its row in
tests/test_families.py.
"""

from __future__ import annotations

import shutil

from family_checks import (
    encode_row,
    media_ids,
    row_processor,
    row_task,
    supervised_ids,
    supervised_text,
    tokenizer,
    two_image_conversation,
    two_video_conversation,
    unpack_tensors,
    write_gif,
    write_two_images,
)

from mmtune.models.families import get_family

FAMILY = get_family("smolvlm2")
IMAGE_SIZES = ((120, 100), (50, 40))  # the first is split into 2x2 tiles + global


def _two_videos(tmp_path) -> dict:
    return two_video_conversation(write_gif(tmp_path, "four.gif", 4), write_gif(tmp_path, "two.gif", 2))


def test_image_tiles(tiny_ckpt, tmp_path):
    a, b = write_two_images(tmp_path, IMAGE_SIZES)
    rp = row_processor(tiny_ckpt("smolvlm2"), tmp_path)
    enc = encode_row(rp, two_image_conversation(a, b), str(tmp_path))
    text = tokenizer(rp).decode(enc["input_ids"])
    assert text.startswith("<|im_start|>System: Answer briefly.<end_of_utterance>\nUser:<fake_token_around_image>")
    mm = unpack_tensors(enc["mm"])
    # each image is upscaled to 128 px and split into 2x2 tiles + a global tile: 5 tiles per image
    assert mm["pixel_values"].shape == (1, 10, 3, 64, 64)
    assert mm["pixel_attention_mask"].shape == (1, 10, 64, 64)


def test_video_rows_carry_real_timestamps(tiny_ckpt, tmp_path):
    rp = row_processor(tiny_ckpt("smolvlm2"), tmp_path)
    enc = encode_row(rp, _two_videos(tmp_path), str(tmp_path))
    assert supervised_text(rp, enc) == " four colors<end_of_utterance> two colors<end_of_utterance>"
    text = tokenizer(rp).decode(enc["input_ids"])
    # each clip names its own frame count and 2-fps timestamps (0.5 s apart -> 00:00, 00:01)
    assert "series of four frames from a 0:00:02 [H:MM:SS] video." in text
    assert "series of two frames from a 0:00:01 [H:MM:SS] video." in text
    assert text.count("\nFrame from 00:01:") == 2
    assert not media_ids(rp) & supervised_ids(enc)
    assert unpack_tensors(enc["mm"])["pixel_values"].shape == (1, 6, 3, 64, 64)


def test_checkpoint_template_without_video_branch(tiny_ckpt, tmp_path):
    """Older hub templates drop video parts; the family's template takes over for them."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt("smolvlm2"), ckpt)
    no_video = FAMILY.chat_template.replace("{%- elif p['type'] == 'video' -%}{{ '<video>' }}", "")
    assert "video" not in no_video
    (ckpt / "chat_template.jinja").write_text(no_video)
    rp = row_processor(ckpt, tmp_path)
    enc = encode_row(rp, _two_videos(tmp_path), str(tmp_path))
    assert "series of two frames" in tokenizer(rp).decode(enc["input_ids"])
    assert supervised_text(rp, enc) == " four colors<end_of_utterance> two colors<end_of_utterance>"


def test_images_and_video_in_one_row_are_refused(tiny_ckpt, tmp_path):
    a, _ = write_two_images(tmp_path, IMAGE_SIZES)
    rp = row_processor(tiny_ckpt("smolvlm2"), tmp_path)
    row = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "path": a},
                    {"type": "video", "path": write_gif(tmp_path, "c.gif", 2)},
                    {"type": "text", "text": "Same?"},
                ],
            },
            {"role": "assistant", "content": "no"},
        ]
    }
    err = rp(row_task(row, str(tmp_path), index=3))
    assert "SmolVLM2 takes images or videos in one conversation, not both" in str(err)
    assert (err.dataset, err.row) == ("test.jsonl", 3)
