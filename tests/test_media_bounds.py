"""Memory bounded by the limits, not by the input: audio refused from its header, video frames
scaled to ``video_max_pixels``, big JPEGs decoded reduced, PDF pages past the limit reported;
and the words a user reads for empty or corrupt audio."""

from __future__ import annotations

import logging
import struct
import tracemalloc
from pathlib import Path

import av
import media_fixtures as mf
import numpy as np
import pytest
import soundfile as sf
from family_checks import row_processor, row_task

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.data.decode import decode_conversation
from mmtune.data.documents import expand_documents
from mmtune.data.media import MediaSettings, decode_media
from mmtune.data.media.image import fit_size
from mmtune.errors import DataError

S = MediaSettings()


def decode(kind: str, settings: MediaSettings = S, **ref):
    return decode_media(MediaPart(kind, MediaRef(**ref)), settings)


def at(tmp_path: Path, kind: str, name: str, settings: MediaSettings = S):
    return decode(kind, settings, path=name, base_dir=str(tmp_path))


def reason(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as e:
        fn(*args, **kwargs)
    return e.value.reason


def silent_flac(path: Path, seconds: int, sr: int = 1_000) -> Path:
    """Silence compresses to almost nothing: an hour at 1 kHz is a few KB on disk."""
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, format="FLAC") as f:
        for _ in range(seconds // 60):
            f.write(np.zeros(60 * sr, np.int16))
    return path


def pyav_audio(path: Path, fmt: str, seconds: float = 3.0, rate: int = 16_000, **options: str) -> Path:
    """AAC audio in a container libsndfile cannot read, so PyAV (ffmpeg) decodes it."""
    with av.open(str(path), "w", format=fmt, options=options) as out:
        st = out.add_stream("aac", rate=rate)
        st.layout = "mono"
        y = mf.sine(seconds, rate)
        for i in range(0, len(y), 1024):
            frame = av.AudioFrame.from_ndarray(y[None, i : i + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, i
            for packet in st.encode(frame):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return path


# -- audio ----------------------------------------------------------------------------------


def test_an_hour_of_flac_is_refused_from_its_header_before_decoding(tmp_path):
    silent_flac(tmp_path / "hour.flac", 3600)
    assert (tmp_path / "hour.flac").stat().st_size < 100_000
    tracemalloc.start()
    try:
        got = reason(at, tmp_path, "audio", "hour.flac")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == "audio 'hour.flac' is 3600.0 s long, more than audio_max_seconds (1800); refused before decoding"
    assert peak < 1 << 20, f"peak {peak:,} bytes to refuse from the header"
    y = at(tmp_path, "audio", "hour.flac", MediaSettings(audio_max_seconds=3600, sampling_rate=1_000))
    assert y.shape == (3600 * 1_000,) and not y.any()  # at the limit: decoded


def test_the_limit_is_the_configured_one_for_every_source(tmp_path):
    s = MediaSettings(audio_max_seconds=2)
    mf.make_wav(tmp_path / "a.wav", seconds=3.0)
    assert reason(at, tmp_path, "audio", "a.wav", s) == (
        "audio 'a.wav' is 3.0 s long, more than audio_max_seconds (2); refused before decoding"
    )
    mf.make_wav(tmp_path / "two.wav", seconds=2.0)
    assert at(tmp_path, "audio", "two.wav", s).shape == (32_000,)  # exactly at the limit: kept
    pyav_audio(tmp_path / "a.m4a", "mp4")
    assert reason(at, tmp_path, "audio", "a.m4a", s) == (
        "audio 'a.m4a' is 3.0 s long, more than audio_max_seconds (2); refused before decoding"
    )
    assert abs(len(at(tmp_path, "audio", "a.m4a")) - 48_000) <= 1024  # under the limit: decoded
    y = mf.sine(3.0, 8_000)
    assert reason(decode, "audio", s, obj=y, sampling_rate=8_000) == (
        "audio in-memory ndarray is 3.0 s long, more than audio_max_seconds (2); refused before resampling"
    )
    assert reason(decode, "audio", s, obj={"array": np.stack([y, y]), "sampling_rate": 8_000}) == (
        "audio in-memory dict is 3.0 s long, more than audio_max_seconds (2); refused before resampling"
    )


def test_a_stream_without_a_duration_is_cut_off_while_decoding(tmp_path):
    pyav_audio(tmp_path / "live.mka", "matroska", seconds=3.0, live="1")  # no duration in the header
    assert reason(at, tmp_path, "audio", "live.mka", MediaSettings(audio_max_seconds=2)) == (
        "audio 'live.mka' is longer than audio_max_seconds (2) (its header gives no duration); "
        "refused while decoding, after 2 s"
    )


def test_multichannel_files_are_mixed_down_block_by_block(tmp_path):
    left, right = mf.sine(5.0, 16_000), mf.sine(5.0, 16_000, freq=1000.0)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 16_000, subtype="FLOAT")
    y = at(tmp_path, "audio", "st.wav")
    assert y.dtype == np.float32 and y.shape == (80_000,)
    np.testing.assert_array_equal(y, np.stack([left, right], axis=1).mean(axis=1))


def test_a_header_only_wav_is_empty(tmp_path):
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, 16_000, 32_000, 2, 16)
    (tmp_path / "hdr.wav").write_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + fmt + b"data\0\0\0\0")
    assert reason(at, tmp_path, "audio", "hdr.wav") == "audio 'hdr.wav' is empty (no samples)"
    sf.write(tmp_path / "st.wav", np.zeros((0, 2), np.float32), 16_000)
    assert reason(at, tmp_path, "audio", "st.wav") == "audio 'st.wav' is empty (no samples)"
    assert reason(decode, "audio", obj=np.zeros((0, 2), np.float32), sampling_rate=16_000) == (
        "audio in-memory ndarray is empty (no samples)"
    )


def test_a_corrupt_mp3_says_so_not_that_it_is_missing(tmp_path):
    (tmp_path / "rand.mp3").write_bytes(np.random.default_rng(0).bytes(5000))
    good = mf.make_mp3(tmp_path / "good.mp3", seconds=2.0).read_bytes()
    (tmp_path / "cut.mp3").write_bytes(good[:200])
    for name in ("rand.mp3", "cut.mp3"):
        assert reason(at, tmp_path, "audio", name) == (
            f"audio '{name}' could not be decoded (the file is corrupt or not audio: "
            "Invalid data found when processing input)"
        )


def test_audio_refusals_arrive_as_the_rows_data_error(tmp_path):
    silent_flac(tmp_path / "hour.flac", 3600)
    conv = Conversation(
        [
            Message(
                "user", [TextPart("Transcribe"), MediaPart("audio", MediaRef(path="hour.flac", base_dir=str(tmp_path)))]
            ),
            Message("assistant", [TextPart("...")]),
        ]
    )
    with pytest.raises(DataError) as e:
        decode_conversation(conv, {"audio", "image"}, "voxtral", S)
    assert (e.value.field, e.value.reason) == (
        "audio[0]",
        "audio 'hour.flac' is 3600.0 s long, more than audio_max_seconds (1800); refused before decoding",
    )


# -- video ----------------------------------------------------------------------------------


def test_fit_size_keeps_the_aspect_ratio_under_the_budget():
    assert fit_size((3000, 3000), 4_000_000) == (2000, 2000)
    assert fit_size((1920, 1080), 1_000_000) == (1333, 749)
    assert fit_size((120, 80), 1500) == (47, 31)
    assert fit_size((80, 120), 1500) == (31, 47)
    assert fit_size((1, 100_000), 100) == (1, 100)
    assert fit_size((32, 24), 768) == (32, 24)


def test_gif_frames_as_video_are_scaled_to_the_budget(tmp_path):
    mf.make_gif(tmp_path / "a.gif", frames=6, size=(120, 80))
    clip = at(tmp_path, "video", "a.gif", MediaSettings(video_fps=10.0, video_max_pixels=6 * 1500))  # all 6
    assert [f.size for f in clip.frames] == [(47, 31)] * 6
    assert sum(f.width * f.height for f in clip.frames) <= 6 * 1500
    assert [f.getpixel((20, 15)) for f in clip.frames] == [(mf.frame_level(i),) * 3 for i in range(6)]
    assert [f.size for f in at(tmp_path, "video", "a.gif", MediaSettings(video_fps=10.0)).frames] == [(120, 80)] * 6


def test_container_frames_are_scaled_while_decoding(tmp_path):
    mf.make_mp4(tmp_path / "v.mp4", frames=8, fps=4, size=(64, 48))
    clip = at(tmp_path, "video", "v.mp4", MediaSettings(video_max_pixels=4 * 768))  # 2 fps: 4 frames
    assert clip.indices == [0, 2, 4, 6] and [f.size for f in clip.frames] == [(32, 24)] * 4
    assert [abs(f.getpixel((16, 12))[0] - mf.frame_level(i)) <= 6 for f, i in zip(clip.frames, clip.indices)] == [
        True
    ] * 4


def test_frames_in_memory_and_frame_files_fit_the_budget_too(tmp_path):
    s = MediaSettings(video_max_pixels=4 * 768)
    arr = np.stack([np.full((48, 64, 3), mf.frame_level(i), np.uint8) for i in range(4)])
    assert [f.size for f in decode("video", s, obj=arr).frames] == [(32, 24)] * 4
    names = [mf.make_jpeg(tmp_path / f"f{i}.jpg", size=(128, 96)).name for i in range(4)]
    clip = decode("video", s, obj=names, base_dir=str(tmp_path))
    assert [f.size for f in clip.frames] == [(32, 24)] * 4  # decoded at 1/4 by libjpeg, no resize needed


# -- images ---------------------------------------------------------------------------------


def test_a_jpeg_over_the_limit_is_decoded_reduced(tmp_path):
    mf.make_jpeg(tmp_path / "big.jpg", size=(400, 300))
    img = at(tmp_path, "image", "big.jpg", MediaSettings(max_image_pixels=40_000))
    assert (img.size, img.mode) == ((200, 150), "RGB")
    assert all(abs(a - b) <= 6 for a, b in zip(img.getpixel((100, 75)), (200, 30, 30)))
    assert at(tmp_path, "image", "big.jpg", MediaSettings(max_image_pixels=10_000)).size == (100, 75)
    mf.make_jpeg(tmp_path / "odd.jpg", size=(401, 301))
    assert at(tmp_path, "image", "odd.jpg", MediaSettings(max_image_pixels=40_000)).size == (201, 151)
    assert reason(at, tmp_path, "image", "big.jpg", MediaSettings(max_image_pixels=1_000)) == (
        "image 'big.jpg' is 400x300 = 120,000 pixels, more than max_image_pixels (1,000); "
        "refused before decoding (decompression-bomb guard)"
    )


def test_other_formats_over_the_limit_are_refused_before_decoding(tmp_path):
    mf.make_png(tmp_path / "big.png", size=(400, 300))
    assert reason(at, tmp_path, "image", "big.png", MediaSettings(max_image_pixels=40_000)) == (
        "image 'big.png' is 400x300 = 120,000 pixels, more than max_image_pixels (40,000); "
        "refused before decoding (decompression-bomb guard)"
    )


def test_image_limits_through_a_row(tiny_ckpt, tmp_path):
    mf.make_jpeg(tmp_path / "big.jpg", size=(400, 300))
    mf.make_png(tmp_path / "big.png", size=(400, 300))
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path, max_image_pixels=40_000)

    def row(name: str) -> dict:
        content = [{"type": "image", "path": name}, {"type": "text", "text": "What?"}]
        return {"messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "red"}]}

    assert isinstance(rp(row_task(row("big.jpg"), str(tmp_path))), dict)
    out = rp(row_task(row("big.png"), str(tmp_path), index=7))
    assert isinstance(out, DataError)
    assert (out.row, out.field, out.reason) == (
        7,
        "image[0]",
        "image 'big.png' is 400x300 = 120,000 pixels, more than max_image_pixels (40,000); "
        "refused before decoding (decompression-bomb guard)",
    )


# -- documents ------------------------------------------------------------------------------


def _doc_conv(path: str, base_dir: str) -> Conversation:
    part = MediaPart("document", MediaRef(path=path, base_dir=base_dir))
    return Conversation([Message("user", [part]), Message("assistant", [TextPart("ok")])])


def test_pdf_pages_past_the_limit_are_reported_once_per_file(tmp_path, caplog):
    mf.make_pdf(tmp_path / "d.pdf", pages=5)
    s = MediaSettings(pdf_max_pages=2)
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        first = expand_documents(_doc_conv("d.pdf", str(tmp_path)), s)
        expand_documents(_doc_conv("d.pdf", str(tmp_path)), s)
    assert len(first.messages[0].parts) == 2
    assert [r.getMessage() for r in caplog.records if r.name == "mmtune"] == [
        "document 'd.pdf' has 5 pages; only the first 2 are used (pdf_max_pages), 3 left out"
    ]
    caplog.clear()
    mf.make_pdf(tmp_path / "short.pdf", pages=2)
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        expand_documents(_doc_conv("short.pdf", str(tmp_path)), s)
    assert [r for r in caplog.records if r.name == "mmtune"] == []
