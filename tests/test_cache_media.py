"""The cache keeps decoded media, not the processor's float tensors (``cache_media: decoded``).

For every family, rows with images, a video and audio (whatever the family takes) and a text row
are preprocessed both ways; the batches a collator builds from them are bit-identical, key by key.
The cache row of a 224 px image holds about the image's own uint8 bytes (docs/benchmarks.md has
the sizes against the processor's float32 pixels).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from family_checks import row_processor, row_task, video_conversation, write_gif, write_two_clips
from PIL import Image

from mmtune.models.families import all_families
from mmtune.preprocess.codec import pack_media, unpack_media, unpack_tensors
from mmtune.tiny import recipes
from mmtune.train.collator import Collator

FAMILIES = sorted(set(recipes()) & set(all_families()))


def noise_image(path, size: tuple[int, int], seed: int) -> str:
    """Random pixels: every value distinct enough that a lossy store would show."""
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path.name


def media_rows(family, tmp_path) -> list[dict]:
    rows = []
    if "image" in family.modalities:
        a, b = noise_image(tmp_path / "a.png", (90, 70), 0), noise_image(tmp_path / "b.png", (60, 100), 1)
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "path": a}, {"type": "text", "text": "Which?"}]},
                    {"role": "assistant", "content": "The first."},
                    {"role": "user", "content": [{"type": "image", "path": b}, {"type": "text", "text": "And?"}]},
                    {"role": "assistant", "content": "The second."},
                ]
            }
        )
    if "video" in family.modalities:
        rows.append(video_conversation(write_gif(tmp_path)))
    if "audio" in family.modalities:
        clip, _ = write_two_clips(tmp_path)
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": [{"type": "audio", "path": clip}, {"type": "text", "text": "What?"}]},
                    {"role": "assistant", "content": "A tone."},
                ]
            }
        )
    rows.append({"messages": [{"role": "user", "content": "Say yes."}, {"role": "assistant", "content": "yes"}]})
    return rows


@pytest.mark.parametrize("family_id", FAMILIES)
def test_batches_from_decoded_media_equal_batches_from_tensors(family_id, tiny_ckpt, tmp_path):
    ckpt = tiny_ckpt(family_id)
    decoded = row_processor(ckpt, tmp_path)
    tensors = row_processor(ckpt, tmp_path, cache_media="tensors")
    family = decoded.family
    raw = media_rows(family, tmp_path)
    rows_d = [decoded(row_task(r, str(tmp_path), index=i)) for i, r in enumerate(raw)]
    rows_t = [tensors(row_task(r, str(tmp_path), index=i)) for i, r in enumerate(raw)]
    for d, t in zip(rows_d, rows_t):
        assert isinstance(d, dict) and isinstance(t, dict), (d, t)
        assert d["input_ids"] == t["input_ids"] and d["labels"] == t["labels"]
        assert t["media"] == b""
    pad = 0
    for i in range(len(raw)):  # each row alone, then all together (padding across rows)
        for pick in ([i], list(range(len(raw)))):
            a = Collator(family, pad, decoded.transform)([rows_d[j] for j in pick])
            b = Collator(family, pad, tensors.transform)([rows_t[j] for j in pick])
            assert a.keys() == b.keys()
            for key in a:
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    # media rows keep their media unless the transform makes no processor call of its own (mistral-common)
    if hasattr(decoded.transform, "batch_tensors"):
        assert all(d["media"] for d in rows_d[:-1])


def test_cache_keeps_the_uint8_pixels_the_model_sees(tiny_ckpt, tmp_path):
    """A 224 px image that Qwen2-VL's processor (here capped at 112x112 pixels) scales down is kept at
    the processor's size, as uint8: 8x less than the float32 patches it makes (each frame twice)."""
    ckpt = tiny_ckpt("qwen2_vl")
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "image", "path": noise_image(tmp_path / "c.png", (224, 224), 2)}]},
            {"role": "assistant", "content": "noise"},
        ]
    }
    rp = row_processor(ckpt, tmp_path)
    d = rp(row_task(row, str(tmp_path)))
    t = row_processor(ckpt, tmp_path, cache_media="tensors")(row_task(row, str(tmp_path)))
    ((_, image),) = unpack_media(d["media"])[1]
    assert image.size == rp.family.image_target_size(rp.processor, (224, 224)) == (112, 112)
    pixels = 112 * 112 * 3
    stored = len(d["media"]) + len(d["mm"])
    assert pixels <= stored <= 1.05 * pixels
    floats = unpack_tensors(t["mm"])["pixel_values"]
    assert floats.numel() * 4 == 8 * pixels and len(t["mm"]) >= 7.5 * stored


def test_media_codec_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8))
    gray = Image.fromarray(rng.integers(0, 256, (4, 6), dtype=np.uint8))
    audio = rng.standard_normal(1234).astype(np.float32)
    from mmtune.data.media.video import VideoClip

    clip = VideoClip([rgb, rgb.resize((3, 2))], 2.5, [0, 7], 12)
    text, media = unpack_media(
        pack_media("<image> hi", [("image", rgb), ("image", gray), ("audio", audio), ("video", clip)])
    )
    assert text == "<image> hi" and [k for k, _ in media] == ["image", "image", "audio", "video"]
    assert media[0][1].tobytes() == rgb.tobytes() and media[0][1].mode == "RGB"
    assert media[1][1].tobytes() == gray.tobytes() and media[1][1].mode == "L"
    assert media[2][1].dtype == np.float32 and np.array_equal(media[2][1], audio)
    v = media[3][1]
    assert (v.fps, v.indices, v.total_frames) == (2.5, [0, 7], 12)
    assert [f.size for f in v.frames] == [(7, 5), (3, 2)] and v.frames[1].tobytes() == clip.frames[1].tobytes()
    assert unpack_media(b"") == (None, [])
