"""Token-budget media fitting (``media_fit``): rows over sequence_len shrink their media before they
are dropped, and ``image_size`` applies to video frames as to images.

The tiny Qwen2-VL processor caps an image at 112x112 pixels (16 tokens), too few for a row to be
much too long because of one image; the tests copy its checkpoint with a cap of 448x448 (256 tokens)
so that one large image makes a row about three times sequence_len.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from family_checks import encode_row, row_processor, row_task, run_training, tokenizer, unpack_tensors
from media_fixtures import make_mp4, make_pdf
from PIL import Image

from mmtune.conversation import MediaPart, MediaRef
from mmtune.data.media import MediaSettings, VideoClip
from mmtune.data.media.video import fewer_frames, load_video
from mmtune.errors import DataError

MERGE = 4  # Qwen2-VL merges 2x2 patches into one token


@pytest.fixture
def roomy_qwen(tiny_ckpt, tmp_path_factory) -> Path:
    """The tiny Qwen2-VL checkpoint with images allowed up to 448x448 pixels (256 tokens)."""
    out = tmp_path_factory.mktemp("roomy") / "qwen2_vl"
    shutil.copytree(tiny_ckpt("qwen2_vl"), out)
    cfg_file = out / "processor_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["image_processor"]["size"]["longest_edge"] = 448 * 448
    cfg_file.write_text(json.dumps(cfg))
    return out


def image_row(path: str, question: str = "What color is it?") -> dict:
    return {
        "messages": [
            {"role": "user", "content": [{"type": "image", "path": path}, {"type": "text", "text": question}]},
            {"role": "assistant", "content": "red"},
        ]
    }


def big_image(tmp_path: Path) -> str:
    Image.new("RGB", (448, 448), "red").save(tmp_path / "big.png")
    return "big.png"


def count(rp, enc: dict, token: str) -> int:
    return enc["input_ids"].count(tokenizer(rp).convert_tokens_to_ids(token))


def test_a_row_too_long_because_of_one_image_shrinks_it_and_trains(roomy_qwen, tmp_path):
    name = big_image(tmp_path)
    full = encode_row(row_processor(roomy_qwen, tmp_path), image_row(name), str(tmp_path))
    rp = row_processor(roomy_qwen, tmp_path, sequence_len=100, min_image_pixels=3136)
    assert len(full["input_ids"]) > 2.5 * 100  # three times too long, all because of the image

    enc = encode_row(rp, image_row(name), str(tmp_path))
    mm = unpack_tensors(enc["mm"])
    assert enc["length"] == len(enc["input_ids"]) <= 100
    # the placeholders are exactly what the shrunk image's features need: one per merged patch
    assert (
        count(rp, enc, "<|image_pad|>")
        == mm["pixel_values"].shape[0] // MERGE
        == int(mm["image_grid_thw"].prod()) // MERGE
    )
    assert count(rp, enc, "<|image_pad|>") < count(rp, full, "<|image_pad|>")

    result = run_training(
        roomy_qwen, [image_row(name)] * 2, tmp_path, sequence_len=100, min_image_pixels=3136, max_steps=2
    )
    assert result.prepared.report.kept == 2 and all(n <= 100 for n in result.prepared.dataset["length"])


@pytest.mark.parametrize("policy", ["drop", "error"])
def test_media_fit_drop_or_error_refuses_the_row(roomy_qwen, tmp_path, policy):
    rp = row_processor(roomy_qwen, tmp_path, sequence_len=100, media_fit=policy)
    out = rp(row_task(image_row(big_image(tmp_path)), str(tmp_path)))
    assert isinstance(out, DataError) and out.field == "length"
    assert out.fatal is (policy == "error")
    assert "more than sequence_len 100" in out.reason
    assert ("media_fit is 'drop'" if policy == "drop" else "media_fit: error") in out.reason


def test_a_row_whose_text_alone_is_too_long_is_dropped_saying_so(roomy_qwen, tmp_path):
    rp = row_processor(roomy_qwen, tmp_path, sequence_len=100, min_image_pixels=3136)
    out = rp(row_task(image_row(big_image(tmp_path), "word " * 150), str(tmp_path)))
    assert isinstance(out, DataError) and not out.fatal
    assert "its text alone is" in out.reason and "shrinking its media cannot make it fit" in out.reason


def test_media_at_their_minimum_that_still_do_not_fit_are_dropped_saying_so(roomy_qwen, tmp_path):
    rp = row_processor(roomy_qwen, tmp_path, sequence_len=60, min_image_pixels=200_000)
    out = rp(row_task(image_row(big_image(tmp_path), "word " * 20), str(tmp_path)))
    assert isinstance(out, DataError) and not out.fatal
    assert "with its media shrunk (min_image_pixels 200000" in out.reason


def write_long_gif(tmp_path: Path, frames: int = 16) -> str:
    """A GIF of ``frames`` distinct 96x80 frames at 10 fps."""
    images = [Image.new("RGB", (96, 80), (i * 15, 255 - i * 15, 40)) for i in range(frames)]
    images[0].save(tmp_path / "long.gif", save_all=True, append_images=images[1:], duration=100, loop=0)
    return "long.gif"


def video_row(path: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": [{"type": "video", "path": path}, {"type": "text", "text": "Describe it."}]},
            {"role": "assistant", "content": "colors"},
        ]
    }


def test_a_video_row_shrinks_by_frames(tiny_ckpt, tmp_path):
    name = write_long_gif(tmp_path)
    opts = {"video_fps": 10.0, "video_max_frames": 16}
    full = encode_row(row_processor(tiny_ckpt("qwen2_vl"), tmp_path, **opts), video_row(name), str(tmp_path))
    full_t = int(unpack_tensors(full["mm"])["video_grid_thw"][0, 0])
    limit = len(full["input_ids"]) - 30
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path, sequence_len=limit, min_video_frames=2, **opts)
    enc = encode_row(rp, video_row(name), str(tmp_path))
    grid = unpack_tensors(enc["mm"])["video_grid_thw"]
    assert len(enc["input_ids"]) <= limit
    assert int(grid[0, 0]) < full_t  # fewer temporal patches: fewer frames
    assert int(grid[0, 1:].prod()) == int(unpack_tensors(full["mm"])["video_grid_thw"][0, 1:].prod())  # same size
    assert count(rp, enc, "<|video_pad|>") == int(grid.prod()) // MERGE


def test_fewer_frames_keeps_evenly_spaced_frames_with_their_timing():
    frames = [Image.new("RGB", (4, 4), (i, 0, 0)) for i in range(12)]
    clip = VideoClip(frames, 6.0, list(range(0, 24, 2)), 24)
    half = fewer_frames(clip, 0.5, 2)
    assert half is not None and half.indices == [0, 4, 8, 12, 16, 20] and half.frames[1] is frames[2]
    assert (half.fps, half.total_frames) == (6.0, 24)
    assert len(fewer_frames(clip, 0.01, 3).frames) == 3  # never below the minimum
    assert fewer_frames(VideoClip(frames[:3], 6.0, [0, 1, 2], 3), 0.1, 3) is None  # at the minimum already


def test_image_size_applies_to_video_frames(tmp_path):
    name = write_long_gif(tmp_path, 4)
    s = MediaSettings(image_size=(32, 24), video_fps=10.0)
    gif = load_video(MediaPart("video", MediaRef(path=name, base_dir=str(tmp_path))), s)
    assert [f.size for f in gif.frames] == [(32, 24)] * 4
    frames = [Image.new("RGB", (50, 40), "blue") for _ in range(3)]
    listed = load_video(MediaPart("video", MediaRef(obj=frames)), s)
    assert [f.size for f in listed.frames] == [(32, 24)] * 3
    mp4 = make_mp4(tmp_path / "c.mp4", frames=4, size=(64, 48))
    container = load_video(MediaPart("video", MediaRef(path=mp4.name, base_dir=str(tmp_path))), s)
    assert container.frames and {f.size for f in container.frames} == {(32, 24)}


def test_a_pdf_row_leaves_out_last_pages_when_smaller_pages_are_not_enough(tiny_ckpt, tmp_path):
    make_pdf(tmp_path / "d.pdf", pages=6)
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "document", "path": "d.pdf"}, {"type": "text", "text": "Read."}]},
            {"role": "assistant", "content": "a report"},
        ]
    }
    opts = {"min_image_pixels": 50_000}  # the 144x72 pages are already below it: only pages can go
    full = encode_row(row_processor(tiny_ckpt("qwen2_vl"), tmp_path, **opts), row, str(tmp_path))
    assert unpack_tensors(full["mm"])["image_grid_thw"].shape[0] == 6
    limit = len(full["input_ids"]) - 40
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path, sequence_len=limit, **opts)
    enc = encode_row(rp, row, str(tmp_path))
    grid = unpack_tensors(enc["mm"])["image_grid_thw"]
    assert len(enc["input_ids"]) <= limit and 1 <= grid.shape[0] < 6
    assert count(rp, enc, "<|image_pad|>") == int(grid.prod(dim=1).sum()) // MERGE
    assert enc["n_media"] == grid.shape[0]
