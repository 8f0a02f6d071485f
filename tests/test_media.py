"""Media decoding: every image/audio/video/document source a dataset can hold, and its errors."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path

import media_fixtures as mf
import numpy as np
import pytest
import torch
from family_checks import encode_row, row_processor, supervised_text, tiny_config, write_jsonl
from PIL import Image
from transformers import AutoProcessor, WhisperFeatureExtractor

from mmtune.conversation import Conversation, MediaPart, MediaRef, Message, TextPart
from mmtune.data import archive
from mmtune.data.documents import expand_documents
from mmtune.data.formats import parts, refs
from mmtune.data.media import (
    MediaSettings,
    VideoClip,
    decode_media,
    guess_kind,
    kind_of_mime,
    kinds,
    sample_indices,
)
from mmtune.errors import DataError
from mmtune.preprocess.codec import unpack_tensors
from mmtune.preprocess.settings import settings_from_config

S = MediaSettings()


def decode(kind: str, settings: MediaSettings = S, **ref):
    return decode_media(MediaPart(kind, MediaRef(**ref)), settings)


def at(tmp_path: Path, kind: str, name: str, settings: MediaSettings = S):
    return decode(kind, settings, path=name, base_dir=str(tmp_path))


def close(a, b, tol: int = 6) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def dominant_hz(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[spec.argmax()])


@contextlib.contextmanager
def refused(pattern: str):
    """Expect a DataError whose reason matches ``pattern`` from its start."""
    with pytest.raises(DataError) as e:
        yield e
    assert re.match(pattern, e.value.reason), e.value.reason


@pytest.fixture(autouse=True)
def _fresh_archives():
    yield
    archive.close_archives()


# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "maker,name",
    [
        (mf.make_png, "a.png"),
        (mf.make_jpeg, "a.jpg"),
        (mf.make_webp, "a.webp"),
        (mf.make_bmp, "a.bmp"),
        (mf.make_tiff, "a.tiff"),
    ],
)
def test_still_formats_decode_to_rgb_with_their_colour(tmp_path, maker, name):
    maker(tmp_path / name, size=(30, 20), color=(200, 30, 30))
    img = at(tmp_path, "image", name)
    assert img.mode == "RGB" and img.size == (30, 20)
    assert close(img.getpixel((15, 10)), (200, 30, 30))


def test_gif_is_its_first_frame_as_an_image_and_every_frame_as_a_video(tmp_path):
    mf.make_gif(tmp_path / "a.gif", frames=6, duration_ms=100)
    img = at(tmp_path, "image", "a.gif")
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (mf.frame_level(0),) * 3
    clip = at(tmp_path, "video", "a.gif", MediaSettings(video_fps=100))
    assert clip.total_frames == 6 and clip.fps == 10.0 and clip.indices == [0, 1, 2, 3, 4, 5]
    assert [f.getpixel((0, 0))[0] for f in clip.frames] == [mf.frame_level(i) for i in range(6)]


def test_exif_orientation_is_applied(tmp_path):
    # Stored 40x20 red|blue; orientation 6 means "rotate 90 degrees clockwise to display".
    mf.make_jpeg_exif(tmp_path / "e.jpg", size=(40, 20), orientation=6)
    img = at(tmp_path, "image", "e.jpg")
    assert img.size == (20, 40)
    assert close(img.getpixel((10, 5)), (255, 0, 0)) and close(img.getpixel((10, 35)), (0, 0, 255))


@pytest.mark.parametrize(
    "mode,color,expected",
    [
        ("L", (200, 30, 30), (76, 76, 76)),
        ("P", (200, 30, 30), (200, 30, 30)),
        ("CMYK", (200, 30, 30), (200, 30, 30)),
        ("LA", (200, 30, 30), (76, 76, 76)),
        ("RGBA", (200, 30, 30), (200, 30, 30)),
        ("1", (255, 255, 255), (255, 255, 255)),
        ("1", (0, 0, 0), (0, 0, 0)),
    ],
)
def test_every_mode_becomes_rgb(tmp_path, mode, color, expected):
    ext = ".jpg" if mode == "CMYK" else ".png"
    mf.make_image(tmp_path / f"m{ext}", (8, 8), color, mode)
    img = at(tmp_path, "image", f"m{ext}")
    assert img.mode == "RGB" and close(img.getpixel((4, 4)), expected, 8)


def test_16_bit_greyscale_is_rescaled_not_clipped(tmp_path):
    mf.make_png16(tmp_path / "g.png", level=32768)
    assert Image.open(tmp_path / "g.png").mode.startswith("I")
    assert at(tmp_path, "image", "g.png").getpixel((0, 0)) == (128, 128, 128)


def test_transparency_is_composited_on_white(tmp_path):
    mf.make_rgba_png(tmp_path / "t.png", color=(0, 0, 0), alpha=0)
    assert at(tmp_path, "image", "t.png").getpixel((0, 0)) == (255, 255, 255)


def test_image_size_applies_to_every_source(tmp_path):
    p = mf.make_png(tmp_path / "a.png", size=(40, 30))
    raw = p.read_bytes()
    b64 = base64.b64encode(raw).decode()
    mf.make_zip(tmp_path / "m.zip", {"in/a.png": p})
    s = MediaSettings(image_size=(12, 10), resample="lanczos")
    sources = [
        dict(path="a.png", base_dir=str(tmp_path)),
        dict(path="in/a.png", base_dir=str(tmp_path / "m.zip")),
        dict(obj=raw),
        dict(base64=b64),
        dict(data_uri="data:image/png;base64," + b64),
        dict(obj=Image.open(p)),
        dict(obj=np.asarray(Image.open(p))),
    ]
    for ref in sources:
        img = decode("image", s, **ref)
        assert img.size == (12, 10) and img.mode == "RGB", ref


def _png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG that declares w x h pixels but holds no pixel data: decoding it would fail."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")
    )
    return path


def test_decompression_bomb_refused_from_the_header(tmp_path):
    _png_header_only(tmp_path / "bomb.png", 50_000, 50_000)
    with pytest.raises(DataError) as e:
        at(tmp_path, "image", "bomb.png")
    assert e.value.reason == (
        "image 'bomb.png' is 50000x50000 = 2,500,000,000 pixels, more than max_image_pixels (40,000,000); "
        "refused before decoding (decompression-bomb guard)"
    )
    mf.make_png(tmp_path / "ok.png", size=(32, 24))
    with refused(r"image 'ok.png' is 32x24 = 768 pixels, more than max_image_pixels \(700\)"):
        at(tmp_path, "image", "ok.png", MediaSettings(max_image_pixels=700))


def test_missing_and_corrupt_images_are_named(tmp_path):
    with pytest.raises(DataError) as e:
        at(tmp_path, "image", "imgs/3.png")
    assert e.value.reason == f"image 'imgs/3.png' not found (looked in {tmp_path})"
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    with refused(r"image 'bad.png' could not be decoded \(UnidentifiedImageError: "):
        at(tmp_path, "image", "bad.png")
    with refused(r"image base64 data \(4 chars\) is not valid base64$"):
        decode("image", base64="a?b!")


def test_data_uri_mime_must_match_the_part(tmp_path):
    wav = mf.make_wav(tmp_path / "a.wav").read_bytes()
    uri = "data:audio/wav;base64," + base64.b64encode(wav).decode()
    with refused(r"image data URI \(data:audio/wav;base64,\S+\.\.\.\) holds audio/wav data, which is not an image$"):
        decode("image", data_uri=uri)
    assert decode("audio", data_uri=uri).shape == (8000,)
    assert guess_kind(MediaRef(data_uri=uri)) == "audio"
    assert guess_kind(MediaRef(data_uri="data:application/pdf;base64,AAAA")) == "document"
    assert guess_kind(MediaRef(path="clip.webm")) == "video"


# -- audio ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "maker,name",
    [
        (mf.make_wav, "a.wav"),
        (mf.make_flac, "a.flac"),
        (mf.make_ogg, "a.ogg"),
        (mf.make_mp3, "a.mp3"),
    ],
)
def test_audio_files_become_mono_float32_at_the_processor_rate(tmp_path, maker, name):
    maker(tmp_path / name, seconds=0.5, sr=22_050, freq=440.0, channels=2)
    y = at(tmp_path, "audio", name)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 8000) <= 0.03 * 8000  # 0.5 s at 16 kHz (mp3/ogg add codec padding)
    assert abs(dominant_hz(y, 16_000) - 440) < 5
    assert 0.4 < np.abs(y).max() < 0.6


def test_audio_objects_in_memory(tmp_path):
    y = mf.sine(seconds=0.5, sr=8_000)
    expect = 8000
    assert decode("audio", obj=y, sampling_rate=8_000).shape == (expect,)
    assert decode("audio", obj=y.tolist(), sampling_rate=8_000).shape == (expect,)
    assert decode("audio", obj={"array": y, "sampling_rate": 8_000}).shape == (expect,)
    assert decode("audio", obj=torch.from_numpy(np.stack([y, y])), sampling_rate=8_000).shape == (expect,)
    pcm = (y * 32767).astype(np.int16)
    out = decode("audio", obj=pcm, sampling_rate=16_000)
    assert out.dtype == np.float32 and abs(np.abs(out).max() - 0.5) < 0.01
    out = decode("audio", MediaSettings(sampling_rate=24_000), obj=y, sampling_rate=8_000)
    assert out.shape == (12_000,) and abs(dominant_hz(out, 24_000) - 440) < 5
    with refused(r"audio in-memory ndarray is an array without a sampling rate"):
        decode("audio", obj=y)
    with refused(r"audio in-memory ndarray is empty \(no samples\)$"):
        decode("audio", obj=np.zeros(0, np.float32), sampling_rate=16_000)


def test_undecodable_audio_is_named(tmp_path):
    (tmp_path / "a.mp3").write_bytes(b"\x00" * 300)
    with refused(r"audio 'a.mp3' could not be decoded \("):
        at(tmp_path, "audio", "a.mp3")


# -- video ----------------------------------------------------------------------------------


def test_sample_indices_follow_fps_and_cap():
    assert sample_indices(8, 4.0, MediaSettings(video_fps=2.0)) == [0, 2, 4, 6]
    capped = sample_indices(300, 30.0, MediaSettings(video_fps=2.0, video_max_frames=16))
    assert len(capped) == 16 and capped[:3] == [0, 18, 37] and capped[-1] == 281
    assert sample_indices(300, 30.0, MediaSettings(video_fps=0.5)) == [0, 60, 120, 180, 240]
    assert sample_indices(3, 1.0, MediaSettings()) == [0, 1, 2]


@pytest.mark.parametrize("maker,name", [(mf.make_mp4, "v.mp4"), (mf.make_webm, "v.webm")])
def test_video_files_are_sampled_by_time(tmp_path, maker, name):
    maker(tmp_path / name, frames=8, fps=4)
    clip = at(tmp_path, "video", name, MediaSettings(video_fps=2.0))
    assert isinstance(clip, VideoClip)
    assert (clip.fps, clip.total_frames, clip.indices, clip.duration) == (4.0, 8, [0, 2, 4, 6], 2.0)
    assert all(f.mode == "RGB" and f.size == (32, 24) for f in clip.frames)
    assert [abs(f.getpixel((16, 12))[0] - mf.frame_level(i)) <= 6 for f, i in zip(clip.frames, clip.indices)] == [
        True
    ] * 4
    capped = at(tmp_path, "video", name, MediaSettings(video_fps=4.0, video_max_frames=3))
    assert capped.indices == [0, 2, 5] and len(capped.frames) == 3


def test_video_objects_in_memory():
    frames = [Image.new("RGB", (8, 6), (mf.frame_level(i),) * 3) for i in range(20)]
    clip = decode("video", MediaSettings(video_max_frames=5), obj=frames)
    assert clip.fps == 1.0 and clip.total_frames == 20 and clip.indices == [0, 4, 8, 12, 16]
    assert [f.getpixel((0, 0))[0] for f in clip.frames] == [mf.frame_level(i) for i in clip.indices]
    arr = np.stack([np.asarray(f) for f in frames[:4]])  # [T, H, W, C]
    for obj in (arr, torch.from_numpy(arr), torch.from_numpy(arr).permute(0, 3, 1, 2)):
        clip = decode("video", obj=obj)
        assert clip.indices == [0, 1, 2, 3] and clip.frames[3].size == (8, 6)
        assert clip.frames[3].getpixel((0, 0)) == (mf.frame_level(3),) * 3
    with refused(r"video in-memory ndarray has shape \(4, 6, 8\), expected \[frames, height, width, channels\]$"):
        decode("video", obj=arr[..., 0])


def test_video_from_a_list_of_frame_files(tmp_path):
    for i in range(3):
        mf.make_png(tmp_path / f"f{i}.png", (8, 8), (mf.frame_level(i),) * 3)
    clip = decode("video", obj=["f0.png", "f1.png", "f2.png"], base_dir=str(tmp_path))
    assert [f.getpixel((0, 0))[0] for f in clip.frames] == [mf.frame_level(i) for i in range(3)]


def test_undecodable_video_is_named(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with refused(r"video 'v.mp4' could not be decoded \("):
        at(tmp_path, "video", "v.mp4")


# -- zip media_dir --------------------------------------------------------------------------


def test_every_media_type_reads_in_place_from_a_zip(tmp_path):
    z = mf.make_zip(
        tmp_path / "media.zip",
        {
            "imgs/a.png": mf.make_png(tmp_path / "src/a.png", (10, 8), (0, 200, 0)),
            "snd/a.wav": mf.make_wav(tmp_path / "src/a.wav"),
            "vid/a.mp4": mf.make_mp4(tmp_path / "src/a.mp4", frames=4),
        },
    )
    base = str(z)
    assert decode("image", path="imgs/a.png", base_dir=base).getpixel((0, 0)) == (0, 200, 0)
    assert decode("image", path="./imgs//a.png", base_dir=base).size == (10, 8)
    assert decode("audio", path="snd/a.wav", base_dir=base).shape == (8000,)
    assert decode("video", path="vid/a.mp4", base_dir=base).total_frames == 4
    assert not (tmp_path / "imgs").exists()  # nothing extracted
    with pytest.raises(DataError) as e:
        decode("image", path="imgs/3.png", base_dir=base)
    assert e.value.reason == f"image 'imgs/3.png' not found (looked in {z})"


@pytest.mark.parametrize("name", ["../x.png", "imgs/../../x.png", "..\\x.png", "/etc/x.png", "C:/x.png"])
def test_zip_members_escaping_the_archive_are_refused(tmp_path, name):
    z = mf.make_zip(tmp_path / "m.zip", {"x.png": mf.make_png(tmp_path / "x.png")})
    with pytest.raises(DataError) as e:
        decode("image", path=name, base_dir=str(z))
    if not os.path.isabs(name):
        assert e.value.reason == f"zip member {name!r} refused: path escapes the archive"
    else:  # an absolute path never looks inside the archive
        assert "not found" in e.value.reason


def test_zip_bombs_are_refused(tmp_path):
    z = mf.make_zip(tmp_path / "bomb.zip", {"big.bmp": b"\x00" * (4 << 20)})
    with refused(
        r"zip member 'big.bmp' refused: compression ratio \d+:1 is above "
        r"100:1 \(4,194,304 bytes unpacked; looks like a zip bomb\)$"
    ):
        decode("image", path="big.bmp", base_dir=str(z))
    many = mf.make_zip(tmp_path / "many.zip", {f"{i}.txt": "x" for i in range(12)})
    with pytest.raises(DataError) as e:
        decode("image", MediaSettings(zip_max_members=10), path="0.txt", base_dir=str(many))
    assert e.value.reason == f"media archive {str(many)!r} refused: it has 12 members, more than the limit of 10"


def test_zip_handles_are_cached_per_process(tmp_path):
    z = mf.make_zip(tmp_path / "m.zip", {"a.png": mf.make_png(tmp_path / "a.png")}, zipfile.ZIP_STORED)
    decode("image", path="a.png", base_dir=str(z))
    first = archive.open_archive(str(z), 10)
    decode("image", path="a.png", base_dir=str(z))
    assert archive.open_archive(str(z), 10) is first


# -- documents ------------------------------------------------------------------------------


def _doc_conv(**ref) -> Conversation:
    return Conversation(
        [
            Message("user", [TextPart("Read this:"), MediaPart("document", MediaRef(**ref)), TextPart("Summary?")]),
            Message("assistant", [TextPart("ok")]),
        ]
    )


def test_pdf_pages_become_images(tmp_path):
    mf.make_pdf(tmp_path / "d.pdf", pages=3, size=(144, 72))
    conv = expand_documents(
        _doc_conv(path="d.pdf", base_dir=str(tmp_path)), MediaSettings(pdf_max_pages=2, pdf_dpi=144)
    )
    parts = conv.messages[0].parts
    assert [type(p).__name__ for p in parts] == ["TextPart", "MediaPart", "MediaPart", "TextPart"]
    pages = [decode_media(p, S) for p in parts[1:3]]
    assert [p.size for p in pages] == [(288, 144), (288, 144)]
    assert [close(p.getpixel((100, 50)), mf.page_color(i), 8) for i, p in enumerate(pages)] == [True, True]
    assert conv.modalities() == {"image"}


def test_text_documents_become_text(tmp_path):
    mf.make_txt(tmp_path / "n.txt", "café notes\n")
    conv = expand_documents(_doc_conv(path="n.txt", base_dir=str(tmp_path)), S)
    # a blank line after an inlined document: it never runs into the text that follows
    assert conv.messages[0].text == "Read this:café notes\n\nSummary?"
    uri = "data:text/plain;base64," + base64.b64encode(b"plain words").decode()
    assert expand_documents(_doc_conv(data_uri=uri), S).messages[0].text == "Read this:plain words\n\nSummary?"
    pdf = mf.make_pdf(tmp_path / "x.pdf", pages=1).read_bytes()
    conv = expand_documents(_doc_conv(data_uri="data:application/pdf;base64," + base64.b64encode(pdf).decode()), S)
    assert conv.modalities() == {"image"}


def test_bad_documents_are_named(tmp_path):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nnothing else")
    with refused(r"document 'broken.pdf' could not be opened as a PDF \("):
        expand_documents(_doc_conv(path="broken.pdf", base_dir=str(tmp_path)), S)
    (tmp_path / "x.bin").write_bytes(b"\x01\x02\x03")
    with refused(r"document 'x.bin' is neither a PDF, a text file nor an image$"):
        expand_documents(_doc_conv(path="x.bin", base_dir=str(tmp_path)), S)
    (tmp_path / "l1.txt").write_bytes("café au lait".encode("latin-1"))
    with refused(r"document 'l1.txt' is not UTF-8 text \(invalid continuation byte at byte 3\)$"):
        expand_documents(_doc_conv(path="l1.txt", base_dir=str(tmp_path)), S)


# -- kinds: the one table of extensions and MIME types ----------------------------------------

# Written out by hand, not read from ``media.kinds``: changing the table must change this too.
KIND_OF_EXTENSION = {
    ext: kind
    for kind, exts in {
        "image": "png jpg jpeg webp gif bmp tif tiff",
        "audio": "wav mp3 flac ogg oga opus m4a aac",
        "video": "mp4 webm mov mkv avi m4v mpeg mpg",
        "document": "pdf txt md",
    }.items()
    for ext in exts.split()
}
KIND_OF_MIME = {
    **dict.fromkeys(
        ("image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif", "image/bmp", "image/tiff", "image/svg+xml"),
        "image",
    ),
    **dict.fromkeys(
        (
            "audio/wav",
            "audio/x-wav",
            "audio/mpeg",
            "audio/mp3",
            "audio/flac",
            "audio/ogg",
            "audio/opus",
            "audio/mp4",
            "audio/aac",
        ),
        "audio",
    ),
    **dict.fromkeys(
        (
            "video/mp4",
            "video/webm",
            "video/quicktime",
            "video/x-matroska",
            "video/x-msvideo",
            "video/x-m4v",
            "video/mpeg",
        ),
        "video",
    ),
    **dict.fromkeys(("application/pdf", "text/plain", "text/markdown"), "document"),
    **dict.fromkeys(("application/octet-stream", "application/zip", "text/html", "text/csv"), None),
}


def test_the_table_is_pinned_and_names_each_extension_once():
    assert {ext: t.kind for ext, t in kinds.BY_EXTENSION.items()} == KIND_OF_EXTENSION
    assert sum(len(t.extensions) for t in kinds.MEDIA_TYPES) == len(KIND_OF_EXTENSION)
    assert len({t.mime for t in kinds.MEDIA_TYPES}) == len(kinds.MEDIA_TYPES)
    assert {t.kind for t in kinds.MEDIA_TYPES} == set(kinds.KINDS) == set(parts.MEDIA_TYPES)
    assert refs.EXTENSIONS == KIND_OF_EXTENSION


@pytest.mark.parametrize("ext,kind", sorted(KIND_OF_EXTENSION.items()))
def test_each_extension_is_one_kind_to_formats_and_to_decoding(ext, kind):
    for name in (f"a.{ext}", f"d.x/B.{ext.upper()}", f"https://h.org/a.{ext}?s=1#top"):
        ref = MediaRef(url=name) if "://" in name else MediaRef(path=name)
        assert (refs.modality_of_name(name), refs.modality_of(name, "f"), guess_kind(ref)) == (kind,) * 3, name
    mime = kinds.mime_of_name(f"a.{ext}")  # the extension's MIME type is the same kind again
    assert KIND_OF_MIME[mime] == kind
    assert refs.mime_of_name(f"a.{ext}") == (mime if kind == "document" else None)


@pytest.mark.parametrize("mime,kind", sorted(KIND_OF_MIME.items()))
def test_each_mime_type_is_one_kind_to_formats_and_to_decoding(mime, kind):
    uri = f"data:{mime};base64,AAAA"
    assert kind_of_mime(mime) == kind_of_mime(f"{mime.upper()}; charset=utf-8") == kind
    assert guess_kind(MediaRef(data_uri=uri)) == guess_kind(MediaRef(path="a.bin", mime=mime)) == kind
    if kind is None:
        with refused(rf"data URI has MIME type '{re.escape(mime)}'; expected image/\*"):
            refs.modality_of(uri, "f")
    else:
        assert refs.modality_of(uri, "f") == kind


def test_no_extension_no_kind():
    for name in ("model.bin", "README", "dir.d/file", "https://h.org/page", "https://h.org/a?f=x.png"):
        assert refs.modality_of_name(name) is guess_kind(MediaRef(path=name)) is None, name
    assert guess_kind(MediaRef(path="a#1.png")) == refs.modality_of_name("a#1.png") == "image"  # a local name


def test_mpeg_files_are_video_and_audio_mpeg_is_audio(tmp_path):
    for name in ("v.mpg", "v.mpeg"):
        mf.make_mpeg(tmp_path / name, frames=6)
        clip = at(tmp_path, "video", name, MediaSettings(video_fps=25.0))
        assert (clip.fps, clip.total_frames, clip.indices) == (25.0, 6, [0, 1, 2, 3, 4, 5])
        assert [abs(f.getpixel((16, 12))[0] - mf.frame_level(i)) <= 6 for i, f in enumerate(clip.frames)] == [True] * 6
    mp3 = mf.make_mp3(tmp_path / "a.mp3").read_bytes()
    uri = "data:audio/mpeg;base64," + base64.b64encode(mp3).decode()
    assert abs(len(decode("audio", data_uri=uri)) - 8000) <= 0.03 * 8000
    with refused(r"video data URI \(\S+\.\.\.\) holds audio/mpeg data, which is not a video$"):
        decode("video", data_uri=uri)
    assert {kind_of_mime(m) for m in parts._AUDIO_FORMATS.values()} == {"audio"}  # input_audio 'mpeg' is MP3


def test_document_mime_types_are_not_images_or_audio():
    for mime in ("application/pdf", "text/plain", "text/markdown"):
        with refused(rf"image data URI \(\S+\.\.\.\) holds {mime} data, which is not an image$"):
            decode("image", data_uri=f"data:{mime};base64,AAAA")


def test_markdown_and_text_by_extension_or_mime_become_text(tmp_path):
    mf.make_txt(tmp_path / "r.md", "# Title\n")
    assert (
        expand_documents(_doc_conv(path="r.md", base_dir=str(tmp_path)), S).messages[0].text
        == "Read this:# Title\n\nSummary?"
    )
    md = base64.b64encode(b"*hi*").decode()
    conv = expand_documents(_doc_conv(base64=md, mime=refs.mime_of_name("notes.md")), S)
    assert conv.messages[0].text == "Read this:*hi*\n\nSummary?"
    csv = "data:text/csv;base64," + base64.b64encode(b"a,b").decode()  # any text/* reads as text
    assert expand_documents(_doc_conv(data_uri=csv), S).messages[0].text == "Read this:a,b\n\nSummary?"


# -- through preprocessing ------------------------------------------------------------------


def test_documents_and_videos_go_through_preprocessing(tiny_ckpt, tmp_path):
    mf.make_pdf(tmp_path / "d.pdf", pages=3)
    mf.make_mp4(tmp_path / "v.mp4", frames=8, fps=4, size=(56, 56))
    rp = row_processor(tiny_ckpt("qwen2_vl"), tmp_path, pdf_max_pages=2, video_max_frames=4, video_fps=1.0)
    assert (rp.s.media.pdf_max_pages, rp.s.media.video_max_frames, rp.s.media.video_fps) == (2, 4, 1.0)
    row = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "document", "path": "d.pdf"},
                    {"type": "video", "path": "v.mp4"},
                    {"type": "text", "text": "What is this?"},
                ],
            },
            {"role": "assistant", "content": "a report"},
        ]
    }
    enc = encode_row(rp, row, str(tmp_path))
    assert supervised_text(rp, enc) == "a report<|im_end|>"
    assert enc["n_media"] == 3  # two rendered pages and the video
    mm = unpack_tensors(enc["mm"])
    assert mm["image_grid_thw"].shape[0] == 2 and mm["video_grid_thw"].shape[0] == 1
    assert int(mm["video_grid_thw"][0, 0]) == 1  # 2 s at 1 fps = 2 frames = one temporal patch


def test_sampling_rate_comes_from_the_processor(tiny_ckpt, tmp_path):
    ckpt = tiny_ckpt("qwen2_vl")
    cfg = tiny_config(ckpt, write_jsonl(tmp_path / "d.jsonl", [{"messages": []}]), tmp_path)
    proc = AutoProcessor.from_pretrained(ckpt)
    assert settings_from_config(cfg, proc)[0].media.sampling_rate == 16_000  # no feature extractor
    proc.feature_extractor = WhisperFeatureExtractor(sampling_rate=24_000)
    assert settings_from_config(cfg, proc)[0].media.sampling_rate == 24_000


def test_a_zip_member_that_lies_about_its_size_is_read_in_bounded_memory(tmp_path):
    """The header says 900 KB (under the ratio check), the data inflates to 256 MB: reading it must
    neither take that memory nor succeed."""
    import struct
    import tracemalloc

    real = 256 << 20
    z = mf.make_zip(tmp_path / "liar.zip", {"big.bmp": b"\x00" * real})
    data = bytearray(z.read_bytes())
    struct.pack_into("<I", data, 22, 900_000)  # the local header's uncompressed size
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 900_000)  # and the central directory's
    z.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        with refused(r"image 'big\.bmp' could not be read from .*liar\.zip.*Bad CRC-32"):
            decode("image", path="big.bmp", base_dir=str(z))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"peak {peak:,} bytes while reading a member that declares 900 KB"
